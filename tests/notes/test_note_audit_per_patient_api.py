"""The audit trail answers "who saw what about patient N": every read of a note writes one
event per patient it concerns, found by the auditor under ``GET /api/audit/?patient=N``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.factories import EnrollmentFactory, UserFactory
from tests.notes.conftest import attended, create_note, group_note_body, progress_note_body
from vioip.accounts.models import Role, User

pytestmark = pytest.mark.django_db


@dataclass
class Setting:
    classmate: User
    group: int
    progress: int


@pytest.fixture
def setting(cast: Any, client_for: Any, group_session: Any) -> Setting:
    """A group note with entries for the patient and a classmate, and a progress note about
    the patient; both drafts."""
    classmate = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=classmate)
    attended(group_session, classmate)
    body = group_note_body(group_session, cast.patient)
    body["entries"].append({"patient": classmate.pk, "mood": "Tearful", "risk": "low"})
    group = create_note(client_for(cast.facilitator), body)["id"]
    progress = create_note(client_for(cast.clinician), progress_note_body(cast.patient))["id"]
    return Setting(classmate=classmate, group=group, progress=progress)


def reads_about(client_for: Any, cast: Any, patient: Any, *, actor: Any) -> list[dict[str, Any]]:
    """Note reads of ``patient`` by ``actor``, as the auditor finds them."""
    response = client_for(cast.auditor).get(
        f"/api/audit/?patient={patient.pk}&actor={actor.pk}&action=read"
        "&object_type=note&page_size=100"
    )
    assert response.status_code == 200
    return list(response.json()["results"])


def test_a_group_note_read_is_found_under_each_patient_of_its_entries(
    cast: Any, client_for: Any, setting: Setting
) -> None:
    assert client_for(cast.facilitator).get(f"/api/notes/{setting.group}/").status_code == 200

    for patient in (cast.patient, setting.classmate):
        [event] = reads_about(client_for, cast, patient, actor=cast.facilitator)
        assert event["object_id"] == str(setting.group)
        assert event["detail"]["via"] == "detail"
    everything = client_for(cast.auditor).get(
        f"/api/audit/?object_id={setting.group}&action=read&object_type=note"
    )
    assert everything.json()["count"] == 2  # none without a patient


def test_a_list_page_is_found_under_each_patient_on_it(
    cast: Any, client_for: Any, setting: Setting
) -> None:
    response = client_for(cast.clinician).get("/api/notes/")
    assert {n["id"] for n in response.json()["results"]} == {setting.group, setting.progress}

    mine = reads_about(client_for, cast, cast.patient, actor=cast.clinician)
    theirs = reads_about(client_for, cast, setting.classmate, actor=cast.clinician)
    # One event per note and patient on the page.
    assert sorted(e["object_id"] for e in mine) == sorted(
        [str(setting.group), str(setting.progress)]
    )
    assert [e["object_id"] for e in theirs] == [str(setting.group)]
    assert all(e["detail"]["via"] == "list" for e in mine + theirs)


def test_the_overdue_list_is_found_under_each_patient_on_it(
    cast: Any, client_for: Any, settings: Any, setting: Setting
) -> None:
    settings.NOTES_OVERDUE_HOURS = 0

    response = client_for(cast.clinician).get("/api/notes/overdue/")

    assert {n["id"] for n in response.json()["results"]} == {setting.group, setting.progress}
    mine = reads_about(client_for, cast, cast.patient, actor=cast.clinician)
    theirs = reads_about(client_for, cast, setting.classmate, actor=cast.clinician)
    assert sorted(e["object_id"] for e in mine) == sorted(
        [str(setting.group), str(setting.progress)]
    )
    assert [e["object_id"] for e in theirs] == [str(setting.group)]
    assert all(e["detail"]["via"] == "overdue" for e in mine + theirs)


def test_a_group_note_read_under_an_emergency_grant_is_found_under_the_granted_patient_only(
    cast: Any, client_for: Any, setting: Setting
) -> None:
    client = client_for(cast.outsider)
    reason = "Patient in crisis at the ED, on-call review of risk history"
    client.post(
        "/api/notes/emergency-access/",
        {"patient": cast.patient.pk, "reason": reason},
        format="json",
    )

    assert client.get(f"/api/notes/{setting.group}/").status_code == 200

    [event] = reads_about(client_for, cast, cast.patient, actor=cast.outsider)
    assert event["object_id"] == str(setting.group)
    assert "emergency_grant" in event["detail"]
    assert reads_about(client_for, cast, setting.classmate, actor=cast.outsider) == []


def test_writes_to_a_group_note_are_found_under_each_patient(
    cast: Any, client_for: Any, setting: Setting
) -> None:
    for patient in (cast.patient, setting.classmate):
        response = client_for(cast.auditor).get(
            f"/api/audit/?patient={patient.pk}&action=create&object_id={setting.group}"
        )
        assert response.json()["count"] == 1


def test_a_patients_own_record_read_is_found_under_them(
    cast: Any, client_for: Any, setting: Setting
) -> None:
    staff = client_for(cast.facilitator)
    assert staff.post(f"/api/notes/{setting.group}/sign/").status_code == 200

    response = client_for(cast.patient).get("/api/me/records/notes/")

    assert [n["id"] for n in response.json()["results"]] == [setting.group]
    [event] = reads_about(client_for, cast, cast.patient, actor=cast.patient)
    assert event["detail"]["via"] == "patient_record"
    assert reads_about(client_for, cast, setting.classmate, actor=cast.patient) == []
