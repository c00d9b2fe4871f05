"""Break-the-glass access for a clinician outside the care team."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.notes.conftest import (
    attended,
    audit_events,
    create_note,
    group_note_body,
    progress_note_body,
)

pytestmark = pytest.mark.django_db

URL = "/api/notes/emergency-access/"
REASON = "Patient in crisis at the ED, on-call review of risk history"


@pytest.fixture
def notes(cast: Any, client_for: Any, group_session: Any) -> dict[str, dict[str, Any]]:
    clin = client_for(cast.clinician)
    therapy = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}
    return {
        "progress": create_note(clin, progress_note_body(cast.patient)),
        "group": create_note(
            client_for(cast.facilitator), group_note_body(group_session, cast.patient)
        ),
        "psychotherapy": create_note(clin, therapy),
    }


def grant(client: Any, patient: Any, reason: str = REASON) -> Any:
    return client.post(URL, {"patient": patient.pk, "reason": reason}, format="json")


def test_outside_clinician_reads_the_patients_notes_after_breaking_the_glass(
    cast: Any, client_for: Any, notes: dict[str, dict[str, Any]]
) -> None:
    client = client_for(cast.outsider)
    assert client.get(f"/api/notes/{notes['progress']['id']}/").status_code == 404

    response = grant(client, cast.patient)

    assert response.status_code == 201
    grant_id = response.json()["id"]
    progress = client.get(f"/api/notes/{notes['progress']['id']}/")
    assert progress.status_code == 200
    assert progress.json()["emergency_grant"] == grant_id
    assert client.get(f"/api/notes/{notes['group']['id']}/").status_code == 200
    listed = {n["id"] for n in client.get("/api/notes/").json()["results"]}
    assert listed == {notes["progress"]["id"], notes["group"]["id"]}
    reads = audit_events(action="read", actor=cast.outsider)
    assert reads and all(e.detail["emergency_grant"] == grant_id for e in reads)
    assert all(e.patient_id == cast.patient.pk for e in reads)


def test_emergency_access_never_opens_psychotherapy_notes(
    cast: Any, client_for: Any, notes: dict[str, dict[str, Any]]
) -> None:
    client = client_for(cast.outsider)
    grant(client, cast.patient)

    response = client.get(f"/api/notes/{notes['psychotherapy']['id']}/")

    assert response.status_code == 404


def test_emergency_access_is_read_only(
    cast: Any, client_for: Any, notes: dict[str, dict[str, Any]]
) -> None:
    client = client_for(cast.outsider)
    grant(client, cast.patient)

    response = client.patch(
        f"/api/notes/{notes['progress']['id']}/", {"sections": {}}, format="json"
    )

    assert response.status_code == 404


def test_emergency_access_shows_only_the_granted_patients_group_entry(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    from tests.factories import EnrollmentFactory, UserFactory

    classmate = UserFactory(role="patient", first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=classmate)
    attended(group_session, classmate)
    body = group_note_body(group_session, cast.patient)
    body["entries"].append({"patient": classmate.pk, "mood": "Tearful", "risk": "low"})
    note = create_note(client_for(cast.facilitator), body)
    client = client_for(cast.outsider)
    grant(client, cast.patient)

    response = client.get(f"/api/notes/{note['id']}/")

    assert [e["patient"]["id"] for e in response.json()["entries"]] == [cast.patient.pk]
    assert "Tearful" not in str(response.json())


def test_emergency_access_expires_after_sixty_minutes(
    cast: Any, client_for: Any, notes: dict[str, dict[str, Any]]
) -> None:
    url = f"/api/notes/{notes['progress']['id']}/"
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        body = grant(client_for(cast.outsider), cast.patient).json()
        assert body["expires_at"] == (start + dt.timedelta(minutes=60)).isoformat().replace(
            "+00:00", "Z"
        )
        # A fresh login each time: the bearer token's idle limit is shorter than the grant.
        traveller.shift(dt.timedelta(minutes=59))
        assert client_for(cast.outsider).get(url).status_code == 200
        traveller.shift(dt.timedelta(minutes=2))
        assert client_for(cast.outsider).get(url).status_code == 404
        assert client_for(cast.outsider).get("/api/notes/").json()["count"] == 0


def test_the_auditor_sees_the_grants(
    cast: Any, client_for: Any, notes: dict[str, dict[str, Any]]
) -> None:
    grant_id = grant(client_for(cast.outsider), cast.patient).json()["id"]

    response = client_for(cast.auditor).get("/api/audit/?action=emergency_access")

    assert response.status_code == 200
    [event] = response.json()["results"]
    assert event["actor"] == cast.outsider.pk
    assert event["patient"] == cast.patient.pk
    assert event["detail"]["grant"] == grant_id
    assert REASON not in str(response.json())


@pytest.mark.parametrize("reason", ["", "short reason", " " * 30])
def test_a_reason_of_at_least_twenty_characters_is_required(
    cast: Any, client_for: Any, reason: str
) -> None:
    response = grant(client_for(cast.outsider), cast.patient, reason)

    assert response.status_code == 400
    assert "reason" in response.json()["fields"]
    assert not audit_events(action="emergency_access")


def test_a_care_team_clinician_does_not_need_emergency_access(cast: Any, client_for: Any) -> None:
    response = grant(client_for(cast.clinician), cast.patient)

    assert response.status_code == 400
    assert "patient" in response.json()["fields"]


def test_emergency_access_for_a_non_patient_is_refused(cast: Any, client_for: Any) -> None:
    response = grant(client_for(cast.outsider), cast.admin)

    assert response.status_code == 400


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "auditor"])
def test_only_clinicians_may_break_the_glass(cast: Any, client_for: Any, role: str) -> None:
    response = grant(client_for(getattr(cast, role)), cast.other_patient)

    assert response.status_code == 403
    assert not audit_events(action="emergency_access")
