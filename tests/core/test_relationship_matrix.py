"""The authorization matrix's second dimension: the state of the care relationship.

A clinician's access to one patient's records (``cast.patient`` in ``cast.cohort``) is
checked in every relationship state, for every endpoint that reads that patient's data:

- ``active``: on the cohort's care team, the patient actively enrolled;
- ``discharged_in_window``: the patient was discharged inside VIOIP_POST_DISCHARGE_DAYS
  (read and sign stay open so documentation can be finished);
- ``discharged_after_window``: discharged before the window: nothing;
- ``demoted``: the admin changed the clinician's role to facilitator;
- ``removed``: the admin took the clinician off the care team;
- ``self_enrolled``: a clinician of another cohort tried to enroll the patient there
  (refused: only admins make relationships) and then reads.

Every record is made through the API while the relationship is active, then the state is
set through the API (the admin's discharge, role change and care-team removal) and each
read is tried. A record the clinician may no longer see answers 404 like a missing one,
and a list no longer names the patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from groups.models import Enrollment
from tests.factories import SessionFactory
from vioip.accounts.tokens import token_issue
from vioip.audit.models import AuditEvent

STATES = [
    "active",
    "discharged_in_window",
    "discharged_after_window",
    "demoted",
    "removed",
    "self_enrolled",
]
# States in which the clinician still reads the patient's records.
READS = {"active", "discharged_in_window"}


def _progress_note(clin: Any, patient: Any) -> int:
    body = {
        "kind": "progress",
        "patient": patient.pk,
        "format": "SOAP",
        "sections": {
            "subjective": "Reports cravings twice this week.",
            "objective": "Calm, engaged.",
            "assessment": "Improving coping.",
            "plan": "Continue group.",
        },
    }
    response = clin.post("/api/notes/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def _drug_test(clin: Any, patient: Any) -> int:
    body = {
        "patient": patient.pk,
        "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
        "specimen": "urine",
        "observed": True,
        "reason": "scheduled",
        "chain_of_custody_id": "CCF-0001",
    }
    response = clin.post("/api/screening/tests/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def _consent(clin: Any, patient: Any) -> int:
    body = {
        "patient": patient.pk,
        "information": ["screening_results", "enrollment_status"],
        "recipient": {
            "name": "Officer Dana Reyes",
            "organization": "County Probation Department",
            "address": "1 Court Plaza, Springfield",
        },
        "purpose": "Compliance with conditions of probation",
        "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
        "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
        "signature_method": "electronic",
    }
    response = clin.post("/api/screening/consents/", body, format="json")
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


class World:
    """The patient's records, made while the relationship is active."""

    def __init__(self, cast: Any, client_for: Callable[..., Any]) -> None:
        self.cast = cast
        self.enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
        # Long enough ago that a discharge before the window is a valid date.
        self.enrollment.start_date = timezone.localdate() - dt.timedelta(days=120)
        self.enrollment.save(update_fields=["start_date"])
        clin = client_for(cast.clinician)
        self.note_id = _progress_note(clin, cast.patient)
        self.test_id = _drug_test(clin, cast.patient)
        self.consent_id = _consent(clin, cast.patient)
        starts = timezone.now() + dt.timedelta(days=1)
        self.individual = SessionFactory(
            cohort=cast.cohort, kind="individual", patient=cast.patient, starts_at=starts
        )
        self.admin = client_for(cast.admin)

    def discharge(self, days_ago: int) -> None:
        response = self.admin.post(
            f"/api/cohorts/{self.cast.cohort.pk}/enrollments/{self.enrollment.pk}/discharge/",
            {
                "reason": "completed",
                "discharged_on": (timezone.localdate() - dt.timedelta(days=days_ago)).isoformat(),
                "aftercare": {"level": "alumni_group", "notes": ""},
            },
            format="json",
        )
        assert response.status_code == 200, response.json()

    def enter(self, state: str, client_for: Callable[..., Any]) -> Any:
        """Put the relationship in ``state``; the client of the clinician who reads."""
        cast = self.cast
        if state == "discharged_in_window":
            self.discharge(days_ago=max(settings.POST_DISCHARGE_DAYS - 5, 0))
        elif state == "discharged_after_window":
            self.discharge(days_ago=settings.POST_DISCHARGE_DAYS + 5)
        elif state == "demoted":
            response = self.admin.patch(
                f"/api/users/{cast.clinician.pk}/", {"role": "facilitator"}, format="json"
            )
            assert response.status_code == 200, response.json()
        elif state == "removed":
            response = self.admin.delete(
                f"/api/cohorts/{cast.cohort.pk}/staff/{cast.clinician.pk}/"
            )
            assert response.status_code == 204
        elif state == "self_enrolled":
            other = client_for(cast.other_clinician)
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
        return client_for(cast.clinician)


def _names_patient(body: Any, patient_id: int) -> bool:
    """Whether a list response mentions the patient anywhere."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key in ("patient", "patient_id") and (
                value == patient_id or (isinstance(value, dict) and value.get("id") == patient_id)
            ):
                return True
            if _names_patient(value, patient_id):
                return True
    elif isinstance(body, list):
        return any(_names_patient(item, patient_id) for item in body)
    return False


# name -> (url builder, kind): "detail" answers 200 or 404; "list" names the patient or not.
READ_ENDPOINTS: dict[str, tuple[Callable[[World], str], str]] = {
    "note-detail": (lambda w: f"/api/notes/{w.note_id}/", "detail"),
    "note-list": (lambda w: f"/api/notes/?patient={w.cast.patient.pk}", "list"),
    "drug-test-detail": (lambda w: f"/api/screening/tests/{w.test_id}/", "detail"),
    "drug-test-list": (lambda w: f"/api/screening/tests/?patient={w.cast.patient.pk}", "list"),
    "consent-detail": (lambda w: f"/api/screening/consents/{w.consent_id}/", "detail"),
    "consent-list": (lambda w: f"/api/screening/consents/?patient={w.cast.patient.pk}", "list"),
    "individual-session": (lambda w: f"/api/sessions/{w.individual.pk}/", "detail"),
    "roster": (lambda w: f"/api/cohorts/{w.cast.cohort.pk}/enrollments/", "list"),
    "discharge-summary": (
        lambda w: f"/api/cohorts/{w.cast.cohort.pk}/enrollments/{w.enrollment.pk}/summary/",
        "detail",
    ),
}

CASES = [
    pytest.param(endpoint, state, id=f"{endpoint}-{state}")
    for endpoint in READ_ENDPOINTS
    for state in STATES
]


@pytest.mark.parametrize(("endpoint", "state"), CASES)
def test_reads_of_a_patients_records_follow_the_relationship(cast, client_for, endpoint, state):
    world = World(cast, client_for)
    reader = world.enter(state, client_for)
    build, kind = READ_ENDPOINTS[endpoint]
    response = reader.get(build(world))
    allowed = state in READS
    if kind == "detail":
        assert response.status_code == (200 if allowed else 404), response.content
        if not allowed:
            # The refusal is in the trail, without saying more to the caller.
            assert response.json() == {"code": "not_found", "detail": "Not found."}
    else:
        # A list the reader may not open at all is refused (a cohort that is not theirs,
        # a role that never reads it); otherwise the patient is simply not on it.
        assert response.status_code in ((200,) if allowed else (200, 403, 404)), response.content
        if response.status_code == 200:
            assert _names_patient(response.json(), cast.patient.pk) is allowed


@pytest.mark.parametrize("state", [s for s in STATES if s not in READS])
def test_a_refused_read_is_audited_as_a_denial_naming_the_patient(cast, client_for, state):
    world = World(cast, client_for)
    reader = world.enter(state, client_for)
    before = AuditEvent.objects.filter(action="denied", patient=cast.patient).count()
    assert reader.get(f"/api/notes/{world.note_id}/").status_code == 404
    assert reader.get(f"/api/screening/tests/{world.test_id}/").status_code == 404
    after = AuditEvent.objects.filter(action="denied", patient=cast.patient).count()
    assert after - before == 2


@pytest.mark.parametrize("state", ["discharged_after_window", "demoted", "removed"])
def test_no_new_records_outside_the_relationship(cast, client_for, state):
    """Ordering a test or recording a consent needs the relationship now."""
    world = World(cast, client_for)
    reader = world.enter(state, client_for)
    with pytest.raises(AssertionError):
        _drug_test(reader, cast.patient)
    with pytest.raises(AssertionError):
        _consent(reader, cast.patient)


def test_inside_the_window_nothing_new_is_ordered_but_notes_are_finished(cast, client_for):
    world = World(cast, client_for)
    clin = world.enter("discharged_in_window", client_for)
    refused = clin.post(
        "/api/screening/tests/",
        {
            "patient": cast.patient.pk,
            "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
            "specimen": "urine",
            "observed": True,
            "reason": "scheduled",
            "chain_of_custody_id": "CCF-0002",
        },
        format="json",
    )
    assert refused.status_code in (400, 403, 404)
    signed = clin.post(f"/api/notes/{world.note_id}/sign/", {}, format="json")
    assert signed.status_code == 200, signed.content


@pytest.mark.parametrize("endpoint", list(READ_ENDPOINTS))
def test_an_enrolment_only_token_reads_none_of_the_patients_records(cast, client_for, endpoint):
    # The relationship is active: only the missing second factor stands in the way.
    world = World(cast, client_for)
    client = APIClient()
    issued = token_issue(user=cast.clinician, mfa_enrollment_only=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    build, _ = READ_ENDPOINTS[endpoint]
    response = client.get(build(world))
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"
    assert not _names_patient(response.json(), cast.patient.pk)
