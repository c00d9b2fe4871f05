"""A Part 2 disclosure stays inside its consent (42 CFR 2.31-2.33): made only by staff of
the discloser the consent names, holding only that discloser's records, of the classes
listed, inside the period asked and the consent's dates, and only final results; what was
left out is counted with a reason, never shown."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from screening.models import Disclosure
from screening.part2 import NOTICE_TEXT
from tests.factories import EnrollmentFactory
from tests.screening.conftest import NEGATIVE_PANEL, events

pytestmark = pytest.mark.django_db

REASONS = {
    "not_final",
    "outside_period",
    "outside_consent_dates",
    "other_discloser",
    "not_consented",
    "not_requested",
}


def _consent(clin: Any, cast: Any, **overrides: Any) -> dict[str, Any]:
    body = {
        "patient": cast.patient.pk,
        "information": ["screening_results", "enrollment_status"],
        "recipient": {"name": "Officer Dana Reyes", "organization": "County Probation"},
        "purpose": "Compliance with conditions of probation",
        "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
        "signed_at": (timezone.now() - dt.timedelta(days=10)).isoformat(),
        "signature_method": "electronic",
        **overrides,
    }
    response = clin.post("/api/screening/consents/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _disclose(client: Any, consent: dict[str, Any], days: int = 30, **extra: Any) -> Any:
    today = timezone.localdate()
    body = {
        "consent": consent["id"],
        "from": (today - dt.timedelta(days=days)).isoformat(),
        "to": today.isoformat(),
        **extra,
    }
    return client.post("/api/screening/disclosures/", body, format="json")


def _test(client: Any, cast: Any, *, ago: dt.timedelta, review: bool = True) -> int:
    """A resulted test of ``cast.patient`` collected ``ago``, reviewed unless told not."""
    created = client.post(
        "/api/screening/tests/",
        {
            "patient": cast.patient.pk,
            "collected_at": (timezone.now() - ago).isoformat(),
            "specimen": "urine",
            "observed": True,
            "reason": "scheduled",
            "chain_of_custody_id": "CCF-0001",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    test_id = created.json()["id"]
    resulted = client.post(
        f"/api/screening/tests/{test_id}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    assert resulted.status_code == 200, resulted.json()
    if review:
        reviewed = client.post(
            f"/api/screening/tests/{test_id}/review/", {"comment": ""}, format="json"
        )
        assert reviewed.status_code == 200, reviewed.json()
    return int(test_id)


def _left_out(package: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(row["kind"], row["reason"]): row["count"] for row in package["left_out"]}


def _disclosed_tests(package: dict[str, Any]) -> list[int]:
    return [t["test"] for t in package["sections"]["screening_results"]]


@pytest.fixture
def in_two_programs(cast: Any) -> Any:
    """``cast.patient`` is also enrolled in the mental-health cohort of ``other_clinician``."""
    return EnrollmentFactory(cohort=cast.other_cohort, patient=cast.patient)


def test_a_clinician_of_another_program_of_the_patient_cannot_disclose(
    clin: Any, cast: Any, client_for: Any, in_two_programs: Any
) -> None:
    consent = _consent(clin, cast)
    other = client_for(cast.other_clinician)
    # They are in the patient's care (the other cohort) and may read the consent ...
    assert other.get(f"/api/screening/consents/{consent['id']}/").status_code == 200

    response = _disclose(other, consent)

    # ... but the consent names the SUD program as the discloser, not theirs.
    assert response.status_code == 409
    assert response.json()["code"] == "not_discloser"
    assert "Alex" not in response.content.decode()
    assert not Disclosure.objects.exists()
    refused = events(action="disclosure_refused")[-1]
    assert (refused.actor_id, refused.patient_id) == (cast.other_clinician.pk, cast.patient.pk)
    assert refused.outcome == "denied"
    assert refused.detail == {"reason": "not_discloser"}


def test_a_clinician_outside_the_patients_care_gets_the_standard_404(
    clin: Any, cast: Any, client_for: Any
) -> None:
    consent = _consent(clin, cast)

    response = _disclose(client_for(cast.other_clinician), consent)

    assert response.status_code == 404
    assert not Disclosure.objects.exists()
    denial = events(action="denied")[-1]
    assert (denial.actor_id, denial.patient_id) == (cast.other_clinician.pk, cast.patient.pk)


def test_a_consent_naming_no_program_of_the_patients_discloses_nothing(
    clin: Any, cast: Any
) -> None:
    from screening.models import Consent

    consent = _consent(clin, cast)
    # An older consent whose discloser name the migration could not resolve: fail closed.
    Consent.objects.filter(pk=consent["id"]).update(discloser_cohort=None)

    response = _disclose(clin, consent)

    assert response.status_code == 409
    assert response.json()["code"] == "discloser_unknown"
    assert not Disclosure.objects.exists()


def test_the_patients_enrollment_and_results_in_another_program_are_left_out(
    clin: Any, cast: Any, client_for: Any, in_two_programs: Any
) -> None:
    other = client_for(cast.other_clinician)
    theirs = _test(other, cast, ago=dt.timedelta(hours=2))
    ours = _test(clin, cast, ago=dt.timedelta(hours=1))
    consent = _consent(clin, cast)

    response = _disclose(clin, consent)

    assert response.status_code == 201, response.json()
    package = response.json()
    assert [e["program"] for e in package["sections"]["enrollment_status"]] == ["Evening SUD IOP"]
    assert _disclosed_tests(package) == [ours]
    assert theirs != ours
    assert "Morning MH IOP" not in response.content.decode()
    assert "mental_health" not in response.content.decode()
    left_out = _left_out(package)
    assert left_out[("enrollment", "other_discloser")] == 1
    assert left_out[("drug_test", "other_discloser")] == 1


def test_a_class_the_consent_does_not_list_is_left_out(clin: Any, cast: Any) -> None:
    _test(clin, cast, ago=dt.timedelta(hours=1))
    consent = _consent(clin, cast, information=["screening_results"])

    package = _disclose(clin, consent).json()

    assert set(package["sections"]) == {"screening_results"}
    left_out = _left_out(package)
    for kind in ("enrollment_status", "attendance", "treatment_summary"):
        assert left_out[(kind, "not_consented")] is None
    # Asking for less than the consent lists leaves the rest out as not requested.
    consent = _consent(clin, cast)
    package = _disclose(clin, consent, information=["screening_results"]).json()
    assert set(package["sections"]) == {"screening_results"}
    assert ("enrollment_status", "not_requested") in _left_out(package)


def test_results_outside_the_period_asked_are_left_out(clin: Any, cast: Any) -> None:
    old = _test(clin, cast, ago=dt.timedelta(days=9))
    recent = _test(clin, cast, ago=dt.timedelta(hours=1))
    consent = _consent(clin, cast)

    package = _disclose(clin, consent, days=3).json()

    assert _disclosed_tests(package) == [recent]
    assert old != recent
    assert _left_out(package)[("drug_test", "outside_period")] == 1


def test_results_before_the_consent_was_signed_are_left_out(clin: Any, cast: Any) -> None:
    before = _test(clin, cast, ago=dt.timedelta(days=5))
    after = _test(clin, cast, ago=dt.timedelta(hours=1))
    consent = _consent(clin, cast, signed_at=(timezone.now() - dt.timedelta(days=2)).isoformat())

    package = _disclose(clin, consent, days=30).json()

    assert _disclosed_tests(package) == [after]
    assert before != after
    assert _left_out(package)[("drug_test", "outside_consent_dates")] == 1
    signed = timezone.localdate(timezone.now() - dt.timedelta(days=2))
    assert package["records_period"] == {
        "from": signed.isoformat(),
        "to": timezone.localdate().isoformat(),
    }


def test_an_enrollment_outside_the_period_asked_is_left_out(clin: Any, cast: Any) -> None:
    consent = _consent(clin, cast, signed_at=(timezone.now() - dt.timedelta(days=60)).isoformat())
    today = timezone.localdate()

    # The enrollment began 7 days ago; the period asked ended 10 days ago.
    response = clin.post(
        "/api/screening/disclosures/",
        {
            "consent": consent["id"],
            "from": (today - dt.timedelta(days=40)).isoformat(),
            "to": (today - dt.timedelta(days=10)).isoformat(),
        },
        format="json",
    )

    package = response.json()
    assert package["sections"]["enrollment_status"] == []
    assert _left_out(package)[("enrollment", "outside_period")] == 1


def test_only_final_results_are_disclosed(clin: Any, cast: Any) -> None:
    unreviewed = _test(clin, cast, ago=dt.timedelta(hours=3), review=False)
    reviewed = _test(clin, cast, ago=dt.timedelta(hours=2))
    amended = _test(clin, cast, ago=dt.timedelta(hours=1))
    response = clin.post(
        f"/api/screening/tests/{amended}/amend/",
        {
            "reason": "Laboratory corrected the THC line",
            "results": [{"analyte": "THC", "result": "positive"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    consent = _consent(clin, cast)

    package = _disclose(clin, consent).json()

    assert _disclosed_tests(package) == [reviewed, amended]
    assert unreviewed not in _disclosed_tests(package)
    by_test = {t["test"]: t for t in package["sections"]["screening_results"]}
    assert by_test[amended]["version"] == 2
    thc = next(r for r in by_test[amended]["results"] if r["analyte"] == "THC")
    assert thc["result"] == "positive"
    assert _left_out(package)[("drug_test", "not_final")] == 1
    observed = {
        e["resource"]["id"]
        for e in package["fhir"]["entry"]
        if e["resource"]["resourceType"] == "Observation"
    }
    assert observed and not any(str(unreviewed) in o.split("-") for o in observed)


def test_the_left_out_summary_holds_counts_and_codes_only(
    clin: Any, cast: Any, client_for: Any, in_two_programs: Any
) -> None:
    unreviewed = _test(clin, cast, ago=dt.timedelta(hours=3), review=False)
    theirs = _test(client_for(cast.other_clinician), cast, ago=dt.timedelta(hours=2))
    consent = _consent(clin, cast, information=["screening_results"])

    response = _disclose(clin, consent)

    package = response.json()
    assert package["left_out"]
    for row in package["left_out"]:
        assert set(row) == {"kind", "count", "reason"}
        assert row["reason"] in REASONS
        assert row["count"] is None or (isinstance(row["count"], int) and row["count"] > 0)
    kinds = {"drug_test", "enrollment", "enrollment_status", "attendance", "treatment_summary"}
    assert {row["kind"] for row in package["left_out"]} <= kinds
    summary = str(package["left_out"])
    for secret in ("Morning MH IOP", "mental_health", "THC", "negative", "urine", "CCF"):
        assert secret not in summary
    # The left-out tests are nowhere in the package, not even by id.
    assert unreviewed not in _disclosed_tests(package)
    assert theirs not in _disclosed_tests(package)
    # The notice against redisclosure is at the top of every package, stored as sent.
    assert next(iter(package)) == "notice"
    assert package["notice"]["text"] == NOTICE_TEXT
    stored = clin.get(f"/api/screening/disclosures/{package['disclosure']}/").json()
    assert stored["package"]["left_out"] == package["left_out"]
    assert stored["package"]["notice"]["text"] == NOTICE_TEXT
