"""The discloser a Part 2 consent names (42 CFR 2.31(a)(2)) is a cohort, held by reference:
a renamed cohort keeps disclosing under its consents, two cohorts of one name are never
confused, and a consent names only a cohort the patient is actively enrolled in and whose
care team the recording clinician is a clinician of. Older consents are resolved by their
discloser's name where exactly one of the patient's cohorts bears it; the rest permit no
disclosure."""

from __future__ import annotations

import datetime as dt
import importlib
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from screening.models import Consent, Disclosure
from tests.factories import CareTeamFactory, CohortFactory, EnrollmentFactory, UserFactory
from tests.screening.conftest import NEGATIVE_PANEL, events
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db

NAME = "Evening SUD IOP"
FIELD = "discloser_cohort"


def _body(cast: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "patient": cast.patient.pk,
        "information": ["screening_results", "enrollment_status"],
        "recipient": {"name": "Officer Dana Reyes", "organization": "County Probation"},
        "purpose": "Compliance with conditions of probation",
        "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
        "signed_at": (timezone.now() - dt.timedelta(days=10)).isoformat(),
        "signature_method": "electronic",
        **overrides,
    }


def _consent(client: Any, cast: Any, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/screening/consents/", _body(cast, **overrides), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _disclose(client: Any, consent: dict[str, Any]) -> Any:
    today = timezone.localdate()
    return client.post(
        "/api/screening/disclosures/",
        {
            "consent": consent["id"],
            "from": (today - dt.timedelta(days=30)).isoformat(),
            "to": today.isoformat(),
        },
        format="json",
    )


def _reviewed_test(client: Any, cast: Any) -> int:
    created = client.post(
        "/api/screening/tests/",
        {
            "patient": cast.patient.pk,
            "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
            "specimen": "urine",
            "observed": True,
            "reason": "scheduled",
            "chain_of_custody_id": "CCF-0001",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    test_id = int(created.json()["id"])
    resulted = client.post(
        f"/api/screening/tests/{test_id}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    assert resulted.status_code == 200, resulted.json()
    reviewed = client.post(
        f"/api/screening/tests/{test_id}/review/", {"comment": ""}, format="json"
    )
    assert reviewed.status_code == 200, reviewed.json()
    return test_id


@pytest.fixture
def twin(cast: Any) -> Any:
    """A second cohort named like ``cast.cohort``, the patient actively enrolled in both,
    with its own clinician (on its care team only)."""
    cohort = CohortFactory(name=NAME)
    EnrollmentFactory(cohort=cohort, patient=cast.patient)
    clinician = UserFactory(username="twin_clin", role=Role.CLINICIAN, first_name="Noor")
    CareTeamFactory(cohort=cohort, user=clinician, role="clinician")
    return SimpleNamespace(cohort=cohort, clinician=clinician)


# --- Recording the discloser -----------------------------------------------------------------


def test_the_discloser_defaults_to_the_clinicians_care_cohort(clin: Any, cast: Any) -> None:
    consent = _consent(clin, cast)

    assert consent["discloser_cohort"] == cast.cohort.pk
    assert consent["discloser"] == NAME
    stored = Consent.objects.get(pk=consent["id"])
    assert (stored.discloser_cohort_id, stored.discloser) == (cast.cohort.pk, NAME)


def test_a_clinician_of_two_of_the_patients_cohorts_chooses_the_discloser(
    clin: Any, cast: Any
) -> None:
    second = CohortFactory(name="Weekend SUD IOP")
    EnrollmentFactory(cohort=second, patient=cast.patient)
    CareTeamFactory(cohort=second, user=cast.clinician, role="clinician")

    consent = _consent(clin, cast, discloser_cohort=second.pk)

    assert (consent["discloser_cohort"], consent["discloser"]) == (second.pk, "Weekend SUD IOP")
    read = clin.get(f"/api/screening/consents/{consent['id']}/").json()
    assert (read["discloser_cohort"], read["discloser"]) == (second.pk, "Weekend SUD IOP")


def test_a_free_text_discloser_decides_nothing(clin: Any, cast: Any) -> None:
    consent = _consent(clin, cast, discloser="Some Other Program")

    assert (consent["discloser_cohort"], consent["discloser"]) == (cast.cohort.pk, NAME)


@pytest.mark.parametrize(
    "case",
    [
        "not_enrolled",
        "discharged",
        "not_on_care_team",
        "facilitator_membership",
        "missing",
        "not_an_id",
        "too_large",
    ],
)
def test_a_discloser_the_patient_or_clinician_does_not_belong_to_is_a_field_error(
    clin: Any, cast: Any, case: str
) -> None:
    if case == "not_enrolled":
        # The clinician's cohort, but the patient was never enrolled in it.
        cohort: Any = CohortFactory(name="Daytime SUD IOP")
        CareTeamFactory(cohort=cohort, user=cast.clinician, role="clinician")
        value: Any = cohort.pk
    elif case == "discharged":
        cohort = CohortFactory(name="Daytime SUD IOP")
        CareTeamFactory(cohort=cohort, user=cast.clinician, role="clinician")
        EnrollmentFactory(
            cohort=cohort,
            patient=cast.patient,
            status="discharged",
            discharged_on=timezone.localdate() - dt.timedelta(days=1),
        )
        value = cohort.pk
    elif case == "not_on_care_team":
        # The patient's other program: enrolled, but another care team's.
        EnrollmentFactory(cohort=cast.other_cohort, patient=cast.patient)
        value = cast.other_cohort.pk
    elif case == "facilitator_membership":
        # On the care team, but not as a clinician: the membership grants nothing.
        cohort = CohortFactory(name="Daytime SUD IOP")
        EnrollmentFactory(cohort=cohort, patient=cast.patient)
        CareTeamFactory(cohort=cohort, user=cast.clinician, role="facilitator")
        value = cohort.pk
    elif case == "missing":
        value = 987654321
    elif case == "not_an_id":
        value = "Evening SUD IOP"
    else:
        value = 2**63

    response = clin.post(
        "/api/screening/consents/", _body(cast, discloser_cohort=value), format="json"
    )

    assert response.status_code == 400, response.json()
    assert FIELD in response.json()["fields"]
    assert "Alex" not in response.content.decode()
    assert not Consent.objects.exists()
    assert not events(action="create", object_type="consent")


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "auditor"])
def test_naming_the_discloser_opens_consent_creation_to_no_other_role(
    role: str, cast: Any, client_for: Any
) -> None:
    response = client_for(getattr(cast, role)).post(
        "/api/screening/consents/",
        _body(cast, discloser_cohort=cast.cohort.pk),
        format="json",
    )

    assert response.status_code in (403, 404)
    assert not Consent.objects.exists()
    assert not events(action="create", object_type="consent")


# --- Disclosing under it ----------------------------------------------------------------------


def test_a_renamed_cohort_keeps_disclosing_under_its_consents(
    clin: Any, cast: Any, client_for: Any
) -> None:
    ours = _reviewed_test(clin, cast)
    consent = _consent(clin, cast)
    renamed = client_for(cast.admin).patch(
        f"/api/cohorts/{cast.cohort.pk}/", {"name": "Tuesday Evening SUD IOP"}, format="json"
    )
    assert renamed.status_code == 200, renamed.json()

    response = _disclose(clin, consent)

    assert response.status_code == 201, response.json()
    package = response.json()
    assert [t["test"] for t in package["sections"]["screening_results"]] == [ours]
    assert package["consent_scope"]["discloser_cohort"] == cast.cohort.pk
    # The consent still shows the name as written on it.
    assert package["consent_scope"]["discloser"] == NAME
    assert clin.get(f"/api/screening/consents/{consent['id']}/").json()["discloser"] == NAME


def test_with_two_cohorts_of_one_name_only_the_consents_cohort_discloses_its_records(
    clin: Any, cast: Any, client_for: Any, twin: Any
) -> None:
    theirs_client = client_for(twin.clinician)
    ours = _reviewed_test(clin, cast)
    theirs = _reviewed_test(theirs_client, cast)
    consent = _consent(theirs_client, cast, discloser_cohort=twin.cohort.pk)
    assert (consent["discloser_cohort"], consent["discloser"]) == (twin.cohort.pk, NAME)

    # The other cohort of the same name is in the patient's care, but not the discloser.
    refused = _disclose(clin, consent)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_discloser"
    assert not Disclosure.objects.exists()
    assert events(action="disclosure_refused")[-1].actor_id == cast.clinician.pk

    response = _disclose(theirs_client, consent)

    assert response.status_code == 201, response.json()
    package = response.json()
    assert [t["test"] for t in package["sections"]["screening_results"]] == [theirs]
    assert ours != theirs
    assert len(package["sections"]["enrollment_status"]) == 1
    left_out = {(r["kind"], r["reason"]): r["count"] for r in package["left_out"]}
    assert left_out[("drug_test", "other_discloser")] == 1
    assert left_out[("enrollment", "other_discloser")] == 1


def test_a_consent_of_the_first_of_two_same_named_cohorts_is_disclosed_by_it_alone(
    clin: Any, cast: Any, client_for: Any, twin: Any
) -> None:
    consent = _consent(clin, cast, discloser_cohort=cast.cohort.pk)

    refused = _disclose(client_for(twin.clinician), consent)
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_discloser"
    assert _disclose(clin, consent).status_code == 201


# --- Consents recorded before the reference existed -------------------------------------------


def _backfill() -> None:
    migration = importlib.import_module("screening.migrations.0003_consent_discloser_cohort")
    migration.backfill_discloser_cohort(apps, None)


def _legacy(cast: Any, *, discloser: str) -> Consent:
    """A consent as recorded before the reference: a name only."""
    return Consent.objects.create(
        patient=cast.patient,
        discloser=discloser,
        information=["screening_results"],
        recipient_name="Officer Dana Reyes",
        purpose="Compliance with conditions of probation",
        expires_on=timezone.localdate() + dt.timedelta(days=30),
        signed_at=timezone.now() - dt.timedelta(days=1),
        signature_method="electronic",
        recorded_by=cast.clinician,
    )


def test_the_migration_resolves_a_name_borne_by_exactly_one_of_the_patients_cohorts(
    clin: Any, cast: Any
) -> None:
    resolved = _legacy(cast, discloser=NAME)
    # A cohort the patient was discharged from still resolves: it disclosed its records.
    former = CohortFactory(name="Summer SUD IOP")
    EnrollmentFactory(
        cohort=former,
        patient=cast.patient,
        start_date=timezone.localdate() - dt.timedelta(days=200),
        status="discharged",
        discharged_on=timezone.localdate() - dt.timedelta(days=100),
    )
    resolved_former = _legacy(cast, discloser="Summer SUD IOP")
    unknown = _legacy(cast, discloser="Some Other Program")
    # Another patient's cohort bears the name; this patient was never enrolled in it.
    elsewhere = _legacy(cast, discloser="Morning MH IOP")

    _backfill()

    by_id = dict(Consent.objects.values_list("pk", "discloser_cohort_id"))
    assert by_id == {
        resolved.pk: cast.cohort.pk,
        resolved_former.pk: former.pk,
        unknown.pk: None,
        elsewhere.pk: None,
    }
    # The name as written stays.
    assert Consent.objects.get(pk=resolved.pk).discloser == NAME
    assert _disclose(clin, {"id": resolved.pk}).status_code == 201
    response = _disclose(clin, {"id": unknown.pk})
    assert response.status_code == 409
    assert response.json()["code"] == "discloser_unknown"


def test_the_migration_leaves_an_ambiguous_name_unresolved_and_it_discloses_nothing(
    clin: Any, cast: Any, client_for: Any, twin: Any
) -> None:
    ambiguous = _legacy(cast, discloser=NAME)

    _backfill()

    assert Consent.objects.get(pk=ambiguous.pk).discloser_cohort_id is None
    read = clin.get(f"/api/screening/consents/{ambiguous.pk}/").json()
    assert (read["discloser_cohort"], read["discloser"]) == (None, NAME)
    for client in (clin, client_for(twin.clinician)):
        response = _disclose(client, {"id": ambiguous.pk})
        assert response.status_code == 409
        assert response.json()["code"] == "discloser_unknown"
    assert not Disclosure.objects.exists()


def test_the_migration_keeps_a_reference_already_set(cast: Any, twin: Any) -> None:
    consent = _legacy(cast, discloser=NAME)
    Consent.objects.filter(pk=consent.pk).update(discloser_cohort=twin.cohort)

    _backfill()

    assert Consent.objects.get(pk=consent.pk).discloser_cohort_id == twin.cohort.pk
