"""A patient's right of access: their own signed notes, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import EnrollmentFactory, UserFactory
from tests.notes.conftest import (
    audit_events,
    create_note,
    group_note_body,
    past_group_session,
    progress_note_body,
)
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db

URL = "/api/me/records/notes/"


@pytest.fixture
def classmate(cast: Any) -> Any:
    user = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=user)
    return user


@pytest.fixture
def group_session(cast: Any, classmate: Any) -> Any:
    return past_group_session(cast.cohort, patients=[cast.patient, classmate])


def signed(client: Any, note: dict[str, Any]) -> dict[str, Any]:
    response = client.post(f"/api/notes/{note['id']}/sign/")
    assert response.status_code == 200
    return response.json()


def test_patient_sees_own_signed_progress_note_and_own_group_entry_only(
    cast: Any, client_for: Any, group_session: Any, classmate: Any
) -> None:
    fac, clin = client_for(cast.facilitator), client_for(cast.clinician)
    body = group_note_body(group_session, cast.patient)
    body["entries"].append({"patient": classmate.pk, "participation": "Quiet today", "risk": "low"})
    group = signed(fac, create_note(fac, body))
    progress = signed(clin, create_note(clin, progress_note_body(cast.patient)))
    create_note(clin, progress_note_body(cast.patient))  # a draft: not shown
    therapy = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}
    signed(clin, create_note(clin, therapy))

    response = client_for(cast.patient).get(URL)

    assert response.status_code == 200
    results = {n["id"]: n for n in response.json()["results"]}
    assert set(results) == {group["id"], progress["id"]}
    assert results[group["id"]]["entry"]["patient"]["id"] == cast.patient.pk
    assert "Quiet today" not in str(response.json())
    assert results[progress["id"]]["sections"] == progress["sections"]


def test_patient_does_not_see_another_patients_entry_or_notes(
    cast: Any, client_for: Any, group_session: Any, classmate: Any
) -> None:
    fac, clin = client_for(cast.facilitator), client_for(cast.clinician)
    signed(fac, create_note(fac, group_note_body(group_session, classmate)))
    signed(clin, create_note(clin, progress_note_body(classmate)))

    response = client_for(cast.patient).get(URL)

    assert response.json()["results"] == []


def test_patient_cannot_read_a_note_about_them_through_the_staff_endpoint(
    cast: Any, client_for: Any
) -> None:
    clin = client_for(cast.clinician)
    note = signed(clin, create_note(clin, progress_note_body(cast.patient)))

    response = client_for(cast.patient).get(f"/api/notes/{note['id']}/")

    assert response.status_code == 403
    assert "sections" not in response.json()


def test_each_record_shown_to_the_patient_is_audited(cast: Any, client_for: Any) -> None:
    clin = client_for(cast.clinician)
    note = signed(clin, create_note(clin, progress_note_body(cast.patient)))

    client_for(cast.patient).get(URL)

    [event] = audit_events(action="read", actor=cast.patient)
    assert event.object_id == str(note["id"])
    assert event.patient_id == cast.patient.pk
    assert event.detail["via"] == "patient_record"


@pytest.mark.parametrize("role", ["facilitator", "clinician", "admin", "auditor"])
def test_only_patients_use_the_records_endpoint(cast: Any, client_for: Any, role: str) -> None:
    response = client_for(getattr(cast, role)).get(URL)

    assert response.status_code == 403
