"""Screening access in every state of the care relationship.

The clinician (``cast.clinician``) makes the patient's screening records through the API
while the relationship is active: a test with results not yet reviewed, a reviewed test,
an ordered test from a random draw, a documented medication, a consent and a disclosure.
The admin then changes the relationship through the API (discharge, role change, care-team
removal), or a clinician of another cohort tries to enroll the patient (refused), and each
read and write is tried:

- ``active``: everything;
- ``discharged_in_window``: reads, results, review, amendment and the record of a
  revocation (finishing documentation); no new order, collection, draw selection,
  medication, consent or disclosure;
- ``discharged_after_window``: nothing, each refusal a 404 with the denial audited;
- ``demoted``: the clinician made facilitator (and put back on the care team as one):
  compliance counts only;
- ``removed``: off the care team: nothing;
- ``self_enrolled``: another cohort's clinician whose enrollment of the patient was
  refused: nothing.

The patient keeps reading their own records in every state.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from groups.models import Enrollment
from screening.models import Consent, ConsentRevocation, Disclosure, DrugTest
from tests.screening.conftest import NEGATIVE_PANEL
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

COHORT_TZ = "America/New_York"
NOT_FOUND = {"code": "not_found", "detail": "Not found."}


def _ok(response: Any, code: int = 200) -> Any:
    assert response.status_code == code, response.content
    return response.json()


class World:
    """The patient's screening records, made while the relationship is active."""

    def __init__(self, cast: Any, client_for: Callable[..., Any]) -> None:
        self.cast = cast
        self.client_for = client_for
        self.patient = cast.patient
        self.enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
        # Long enough ago that a discharge before the window is a valid date.
        self.enrollment.start_date = timezone.localdate() - dt.timedelta(days=120)
        self.enrollment.save(update_fields=["start_date"])
        self.admin = client_for(cast.admin)
        clin = client_for(cast.clinician)
        self.resulted = self._test(clin)
        _ok(
            clin.post(
                f"/api/screening/tests/{self.resulted}/results/",
                {"results": NEGATIVE_PANEL},
                format="json",
            )
        )
        self.reviewed = self._test(clin)
        _ok(
            clin.post(
                f"/api/screening/tests/{self.reviewed}/results/",
                {"results": NEGATIVE_PANEL},
                format="json",
            )
        )
        _ok(clin.post(f"/api/screening/tests/{self.reviewed}/review/", {"comment": "ok"}))
        self.collected = self._test(clin)
        draw = _ok(
            clin.post(
                "/api/screening/draws/",
                {"cohort": cast.cohort.pk, "date": self.today_there(), "rate": "1"},
                format="json",
            ),
            201,
        )
        self.draw = draw["id"]
        self.ordered = DrugTest.objects.get(draw_id=self.draw, patient=cast.patient).pk
        self.medication = _ok(
            clin.post(
                "/api/screening/medications/",
                {
                    "patient": cast.patient.pk,
                    "name": "buprenorphine",
                    "start_date": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
                },
                format="json",
            ),
            201,
        )["id"]
        self.consent = _ok(
            clin.post("/api/screening/consents/", self.consent_body(), format="json"), 201
        )["id"]
        self.spare_consent = _ok(
            clin.post("/api/screening/consents/", self.consent_body(), format="json"), 201
        )["id"]
        self.disclosure = _ok(
            clin.post("/api/screening/disclosures/", self.disclosure_body(), format="json"), 201
        )["disclosure"]

    @staticmethod
    def today_there() -> str:
        # The draw's date is the cohort's day.
        return timezone.localtime(timezone.now(), ZoneInfo(COHORT_TZ)).date().isoformat()

    def _test(self, clin: Any) -> int:
        return int(
            _ok(clin.post("/api/screening/tests/", self.test_body(), format="json"), 201)["id"]
        )

    def test_body(self) -> dict[str, Any]:
        return {
            "patient": self.patient.pk,
            "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
            "specimen": "urine",
            "observed": True,
            "reason": "scheduled",
        }

    def consent_body(self) -> dict[str, Any]:
        return {
            "patient": self.patient.pk,
            "information": ["screening_results", "enrollment_status"],
            "recipient": {"name": "Officer Dana Reyes", "organization": "County Probation"},
            "purpose": "Compliance with conditions of probation",
            "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
            "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
            "signature_method": "electronic",
        }

    def disclosure_body(self) -> dict[str, Any]:
        today = timezone.localdate()
        return {
            "consent": self.consent,
            "from": (today - dt.timedelta(days=30)).isoformat(),
            "to": today.isoformat(),
        }

    def discharge(self, days_ago: int) -> None:
        _ok(
            self.admin.post(
                f"/api/cohorts/{self.cast.cohort.pk}/enrollments/{self.enrollment.pk}/discharge/",
                {
                    "reason": "completed",
                    "discharged_on": (
                        timezone.localdate() - dt.timedelta(days=days_ago)
                    ).isoformat(),
                    "aftercare": {"level": "alumni_group", "notes": ""},
                },
                format="json",
            )
        )

    def enter(self, state: str) -> Any:
        """Put the relationship in ``state``; the client of the clinician who tries."""
        cast = self.cast
        if state == "discharged_in_window":
            self.discharge(days_ago=max(settings.POST_DISCHARGE_DAYS - 5, 0))
        elif state == "discharged_after_window":
            self.discharge(days_ago=settings.POST_DISCHARGE_DAYS + 5)
        elif state == "demoted":
            _ok(
                self.admin.patch(
                    f"/api/users/{cast.clinician.pk}/", {"role": "facilitator"}, format="json"
                )
            )
            # Back on the care team, as what they now are.
            _ok(
                self.admin.post(
                    f"/api/cohorts/{cast.cohort.pk}/staff/",
                    {"user": cast.clinician.pk, "role": "facilitator"},
                    format="json",
                ),
                201,
            )
        elif state == "removed":
            response = self.admin.delete(
                f"/api/cohorts/{cast.cohort.pk}/staff/{cast.clinician.pk}/"
            )
            assert response.status_code == 204
        elif state == "self_enrolled":
            other = self.client_for(cast.other_clinician)
            response = other.post(
                f"/api/cohorts/{cast.other_cohort.pk}/enrollments/",
                {"patient": cast.patient.pk, "start_date": timezone.localdate().isoformat()},
                format="json",
            )
            assert response.status_code == 403
            assert not Enrollment.objects.filter(
                cohort=cast.other_cohort, patient=cast.patient
            ).exists()
            return other
        elif state != "active":
            raise AssertionError(state)
        return self.client_for(cast.clinician)


STATES = [
    "active",
    "discharged_in_window",
    "discharged_after_window",
    "demoted",
    "removed",
    "self_enrolled",
]
READS = {"active", "discharged_in_window"}
# Finishing documentation: results, review, amendment, the record of a revocation.
DOCUMENTS = {"active", "discharged_in_window"}
# Anything new: orders, collections, medications, consents, disclosures.
NEW = {"active"}


def _reads(w: World) -> dict[str, str]:
    """Every screening read of one of the patient's records, by name."""
    p = w.patient.pk
    return {
        "test": f"/api/screening/tests/{w.resulted}/",
        "test-fhir": f"/api/screening/tests/{w.resulted}/fhir/",
        "test-list": f"/api/screening/tests/?patient={p}",
        "consent": f"/api/screening/consents/{w.consent}/",
        "consent-fhir": f"/api/screening/consents/{w.consent}/fhir/",
        "consent-list": f"/api/screening/consents/?patient={p}",
        "disclosure": f"/api/screening/disclosures/{w.disclosure}/",
        "disclosure-list": f"/api/screening/disclosures/?patient={p}",
        "medications": f"/api/screening/medications/?patient={p}",
    }


def _denials(patient: Any) -> int:
    return AuditEvent.objects.filter(action="denied", patient=patient).count()


@pytest.mark.parametrize("state", STATES)
def test_reads_follow_the_relationship_and_every_refusal_is_an_audited_404(
    state: str, cast: Any, client_for: Any
) -> None:
    w = World(cast, client_for)
    reader = w.enter(state)
    for name, url in _reads(w).items():
        before = _denials(cast.patient)
        response = reader.get(url)
        if state in READS:
            assert response.status_code == 200, (name, response.content)
        else:
            assert response.status_code == 404, (name, response.content)
            assert response.json() == NOT_FOUND
            assert _denials(cast.patient) == before + 1, name
            denial = AuditEvent.objects.filter(action="denied").latest("seq")
            assert denial.actor_id == reader_user(cast, state).pk
    # Lists without a patient no longer name them.
    if state not in READS and state != "demoted":
        for url in ("/api/screening/tests/", "/api/screening/consents/"):
            rows = _ok(reader.get(url))["results"]
            assert cast.patient.pk not in {r["patient"] for r in rows}, url


def reader_user(cast: Any, state: str) -> Any:
    return cast.other_clinician if state == "self_enrolled" else cast.clinician


@pytest.mark.parametrize("state", STATES)
def test_documentation_is_finished_inside_the_window_only(
    state: str, cast: Any, client_for: Any
) -> None:
    w = World(cast, client_for)
    clin = w.enter(state)
    allowed = state in DOCUMENTS
    review = clin.post(f"/api/screening/tests/{w.resulted}/review/", {"comment": "late lab"})
    amend = clin.post(
        f"/api/screening/tests/{w.reviewed}/amend/",
        {"reason": "lab corrected", "results": [{"analyte": "THC", "result": "invalid"}]},
        format="json",
    )
    results = clin.post(
        f"/api/screening/tests/{w.collected}/results/",
        {"results": NEGATIVE_PANEL},
        format="json",
    )
    revoke = clin.post(f"/api/screening/consents/{w.spare_consent}/revoke/", {}, format="json")
    for name, response in [
        ("review", review),
        ("amend", amend),
        ("results", results),
        ("revoke", revoke),
    ]:
        assert response.status_code == (200 if allowed else 404), (name, response.content)
    statuses = dict(DrugTest.objects.values_list("pk", "status"))
    assert (statuses[w.resulted] == "reviewed") is allowed
    assert (statuses[w.collected] == "resulted") is allowed
    assert DrugTest.objects.get(pk=w.reviewed).version == (2 if allowed else 1)
    assert ConsentRevocation.objects.filter(consent_id=w.spare_consent).exists() is allowed
    if not allowed:
        denials = AuditEvent.objects.filter(
            action="denied", actor=reader_user(cast, state), patient=cast.patient
        )
        assert {(e.object_type, e.detail["attempted"]) for e in denials} >= {
            ("drug_test", "review"),
            ("drug_test", "amend"),
            ("drug_test", "results"),
            ("consent", "revoke"),
        }


@pytest.mark.parametrize("state", STATES)
def test_nothing_new_is_ordered_consented_to_or_disclosed_without_an_active_enrollment(
    state: str, cast: Any, client_for: Any
) -> None:
    w = World(cast, client_for)
    clin = w.enter(state)
    allowed = state in NEW
    tests_before = DrugTest.objects.count()
    consents_before = Consent.objects.count()
    disclosures_before = Disclosure.objects.count()
    attempts = {
        "order": clin.post("/api/screening/tests/", w.test_body(), format="json"),
        "collect": clin.post(
            f"/api/screening/tests/{w.ordered}/collect/",
            {"collected_at": timezone.now().isoformat(), "specimen": "urine"},
            format="json",
        ),
        "medication": clin.post(
            "/api/screening/medications/",
            {
                "patient": cast.patient.pk,
                "name": "methadone",
                "start_date": timezone.localdate().isoformat(),
            },
            format="json",
        ),
        "consent": clin.post("/api/screening/consents/", w.consent_body(), format="json"),
        "disclosure": clin.post("/api/screening/disclosures/", w.disclosure_body(), format="json"),
    }
    for name, response in attempts.items():
        if allowed:
            assert response.status_code in (200, 201), (name, response.content)
        else:
            assert response.status_code == 404, (name, response.content)
            assert response.json() == NOT_FOUND
    assert (DrugTest.objects.count() > tests_before) is allowed
    assert (Consent.objects.count() > consents_before) is allowed
    assert (Disclosure.objects.count() > disclosures_before) is allowed
    assert (DrugTest.objects.get(pk=w.ordered).status == "collected") is allowed
    if not allowed:
        attempted = {
            e.detail["attempted"]
            for e in AuditEvent.objects.filter(
                action="denied", actor=reader_user(cast, state), patient=cast.patient
            )
        }
        assert attempted >= {"create", "collect", "medication", "consent", "disclose"}


@pytest.mark.parametrize("state", STATES)
def test_a_random_draw_selects_only_patients_with_an_active_enrollment(
    state: str, cast: Any, client_for: Any
) -> None:
    w = World(cast, client_for)
    clin = w.enter(state)
    response = clin.post(
        "/api/screening/draws/",
        {"cohort": cast.cohort.pk, "date": w.today_there(), "rate": "1"},
        format="json",
    )
    if state == "active":
        assert _ok(response, 201)["selected"] == [cast.patient.pk]
    elif state in ("discharged_in_window", "discharged_after_window"):
        # The clinician still draws in their cohort; the discharged patient is not drawn.
        assert _ok(response, 201)["selected"] == []
    else:
        assert response.status_code in (403, 404), response.content
    # The earlier draw names the patient only while they are in the clinician's care.
    detail = clin.get(f"/api/screening/draws/{w.draw}/")
    if state in READS:
        assert _ok(detail)["selected"] == [cast.patient.pk]
    elif state == "discharged_after_window":
        assert _ok(detail)["selected"] == []
    else:
        assert detail.status_code in (403, 404)


def test_a_demoted_clinician_sees_compliance_counts_only(cast: Any, client_for: Any) -> None:
    w = World(cast, client_for)
    demoted = w.enter("demoted")
    counts = _ok(demoted.get(f"/api/screening/compliance/?cohort={cast.cohort.pk}"))
    row = next(r for r in counts["patients"] if r["patient"] == cast.patient.pk)
    assert row["taken"] == 3
    assert "negative" not in str(counts)
    assert demoted.get("/api/screening/draws/").status_code == 403
    assert demoted.get("/api/screening/tests/").status_code == 403
    assert demoted.get(f"/api/screening/tests/{w.resulted}/").status_code == 404


@pytest.mark.parametrize("state", ["removed", "discharged_after_window"])
def test_compliance_follows_the_relationship(state: str, cast: Any, client_for: Any) -> None:
    w = World(cast, client_for)
    clin = w.enter(state)
    response = clin.get(f"/api/screening/compliance/?cohort={cast.cohort.pk}")
    if state == "removed":
        assert response.status_code == 404
        denial = AuditEvent.objects.filter(action="denied").latest("seq")
        assert (denial.object_type, denial.object_id) == ("cohort", str(cast.cohort.pk))
    else:
        patients = {r["patient"] for r in _ok(response)["patients"]}
        assert cast.patient.pk not in patients


@pytest.mark.parametrize("state", STATES)
def test_the_patient_keeps_reading_their_own_records(
    state: str, cast: Any, client_for: Any
) -> None:
    w = World(cast, client_for)
    w.enter(state)
    patient = client_for(cast.patient)
    mine = _ok(patient.get("/api/me/records/screening/"))["results"]
    assert {w.resulted, w.reviewed, w.collected} <= {t["id"] for t in mine}
    _ok(patient.get(f"/api/screening/tests/{w.resulted}/"))
    _ok(patient.get(f"/api/screening/consents/{w.consent}/"))
    _ok(patient.get(f"/api/screening/disclosures/{w.disclosure}/"))
    disclosures = _ok(patient.get("/api/me/records/disclosures/"))["results"]
    assert [d["id"] for d in disclosures] == [w.disclosure]
    # Reading is all: the patient reviews nothing.
    assert patient.post(f"/api/screening/tests/{w.resulted}/review/", {}).status_code == 404
