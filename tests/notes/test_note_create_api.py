from __future__ import annotations

from typing import Any

import pytest

from groups.notes.models import Note
from sessions_app.attendance.models import AttendanceAdjustment
from tests.factories import EnrollmentFactory, SessionFactory, UserFactory
from tests.notes.conftest import (
    SOAP,
    audit_events,
    create_note,
    group_note_body,
    progress_note_body,
)
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db


def test_facilitator_writes_a_group_note_with_an_entry_for_the_patient(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    note = create_note(client_for(cast.facilitator), group_note_body(group_session, cast.patient))

    assert note["kind"] == "group"
    assert note["status"] == "draft"
    assert note["author"]["id"] == cast.facilitator.pk
    assert note["shared"]["topic"] == "Relapse prevention: high-risk situations"
    assert [e["patient"]["id"] for e in note["entries"]] == [cast.patient.pk]
    assert note["entries"][0]["risk"] == "none"


@pytest.mark.parametrize(
    ("fmt", "sections"),
    [
        ("SOAP", SOAP),
        ("DAP", {"data": "d", "assessment": "a", "plan": "p"}),
        ("BIRP", {"behavior": "b", "intervention": "i", "response": "r", "plan": "p"}),
        ("GIRP", {"goals": "g", "intervention": "i", "response": "r", "plan": "p"}),
    ],
)
def test_clinician_writes_a_progress_note_in_each_format(
    cast: Any, client_for: Any, fmt: str, sections: dict[str, str]
) -> None:
    body = progress_note_body(cast.patient, format=fmt, sections=sections)

    note = create_note(client_for(cast.clinician), body)

    assert note["format"] == fmt
    assert note["sections"] == sections
    assert note["patient"]["id"] == cast.patient.pk
    assert note["cohort"] == cast.cohort.pk


def test_clinician_writes_a_psychotherapy_note(cast: Any, client_for: Any) -> None:
    body = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}

    note = create_note(client_for(cast.clinician), body)

    assert note["kind"] == "psychotherapy"
    assert note["text"] == "Process notes."


def test_progress_note_with_an_unknown_section_is_refused(cast: Any, client_for: Any) -> None:
    body = progress_note_body(cast.patient, sections={**SOAP, "data": "x"})

    response = client_for(cast.clinician).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert "sections.data" in response.json()["fields"]
    assert not Note.objects.exists()


def test_progress_note_missing_a_required_section_is_refused(cast: Any, client_for: Any) -> None:
    sections = {k: v for k, v in SOAP.items() if k != "plan"}
    body = progress_note_body(cast.patient, format="SOAP", sections=sections)

    response = client_for(cast.clinician).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"]["sections.plan"] == ["This section is required."]
    assert not Note.objects.exists()


def test_progress_note_with_an_unknown_format_is_refused(cast: Any, client_for: Any) -> None:
    body = progress_note_body(cast.patient, format="XYZ")

    response = client_for(cast.clinician).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert "format" in response.json()["fields"]


def test_group_note_for_a_non_group_session_is_refused(cast: Any, client_for: Any) -> None:
    individual = SessionFactory(cohort=cast.cohort, kind="individual", patient=cast.patient)

    response = client_for(cast.facilitator).post(
        "/api/notes/", group_note_body(individual, cast.patient), format="json"
    )

    assert response.status_code == 400
    assert "session" in response.json()["fields"]
    assert not Note.objects.exists()


def test_group_note_entry_for_a_patient_who_did_not_attend_is_refused(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    body = group_note_body(group_session, cast.other_patient)

    response = client_for(cast.facilitator).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"entries.0": ["This patient did not attend the session."]}
    assert not Note.objects.exists()


def test_group_note_entry_for_an_enrolled_patient_who_never_joined_the_room_is_refused(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    absent = UserFactory(role=Role.PATIENT)
    EnrollmentFactory(cohort=cast.cohort, patient=absent)

    response = client_for(cast.facilitator).post(
        "/api/notes/", group_note_body(group_session, absent), format="json"
    )

    assert response.status_code == 400
    assert not Note.objects.exists()


def test_a_patient_credited_with_an_attendance_adjustment_counts_as_attended(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    by_phone = UserFactory(role=Role.PATIENT)
    EnrollmentFactory(cohort=cast.cohort, patient=by_phone)
    AttendanceAdjustment.objects.create(
        session=group_session,
        patient=by_phone,
        minutes=90,
        reason="Joined by phone",
        created_by=cast.clinician,
    )

    note = create_note(client_for(cast.facilitator), group_note_body(group_session, by_phone))

    assert note["entries"][0]["patient"]["id"] == by_phone.pk


def test_high_risk_without_follow_up_is_refused(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    body = group_note_body(group_session, cast.patient, risk="high")

    response = client_for(cast.facilitator).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"entries.0": ["A high risk needs a follow-up."]}


def test_high_risk_with_follow_up_is_accepted(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    body = group_note_body(
        group_session, cast.patient, risk="high", follow_up="Safety plan reviewed same day."
    )

    note = create_note(client_for(cast.facilitator), body)

    assert note["entries"][0]["risk"] == "high"


@pytest.mark.parametrize(
    "text",
    ["Alex talked about cravings", "alex rivera left early", "Discussion led by RIVERA"],
)
def test_shared_part_naming_a_patient_of_the_cohort_is_refused(
    cast: Any, client_for: Any, group_session: Any, text: str
) -> None:
    body = group_note_body(group_session, cast.patient)
    body["shared"]["themes"] = text

    response = client_for(cast.facilitator).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    error = response.json()["fields"]["shared.themes"][0]
    assert "must not name patients" in error
    assert "Alex" not in str(response.json())
    assert not Note.objects.exists()


def test_shared_part_with_a_name_inside_another_word_is_accepted(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    body = group_note_body(group_session, cast.patient)
    body["shared"]["themes"] = "Alexithymia and naming feelings"

    create_note(client_for(cast.facilitator), body)


def test_editing_the_shared_part_to_name_a_patient_is_refused(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    client = client_for(cast.facilitator)
    note = create_note(client, group_note_body(group_session, cast.patient))

    response = client.patch(
        f"/api/notes/{note['id']}/", {"shared": {"topic": "Alex's relapse"}}, format="json"
    )

    assert response.status_code == 400
    assert Note.objects.get(pk=note["id"]).topic == "Relapse prevention: high-risk situations"


def test_second_group_note_for_the_same_session_is_a_conflict(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    create_note(client_for(cast.facilitator), group_note_body(group_session, cast.patient))

    response = client_for(cast.clinician).post(
        "/api/notes/", group_note_body(group_session, cast.patient), format="json"
    )

    assert response.status_code == 409
    assert Note.objects.count() == 1


def test_unknown_kind_is_refused(cast: Any, client_for: Any) -> None:
    response = client_for(cast.clinician).post("/api/notes/", {"kind": "memo"}, format="json")

    assert response.status_code == 400
    assert "kind" in response.json()["fields"]


def test_facilitator_cannot_write_a_progress_note(cast: Any, client_for: Any) -> None:
    response = client_for(cast.facilitator).post(
        "/api/notes/", progress_note_body(cast.patient), format="json"
    )

    assert response.status_code == 403
    assert not Note.objects.exists()


def test_clinician_cannot_write_about_a_patient_outside_their_care(
    cast: Any, client_for: Any
) -> None:
    response = client_for(cast.clinician).post(
        "/api/notes/", progress_note_body(cast.other_patient), format="json"
    )

    assert response.status_code == 400
    assert response.json()["fields"]["patient"] == ["No patient in your care has this id."]
    assert not Note.objects.exists()


def test_staff_of_another_cohort_cannot_write_a_group_note_for_the_session(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    response = client_for(cast.other_clinician).post(
        "/api/notes/", group_note_body(group_session, cast.patient), format="json"
    )

    assert response.status_code == 400
    assert "session" in response.json()["fields"]
    assert not Note.objects.exists()
    # The refused lookup of the session is audited like any other.
    [denied] = audit_events(action="denied", actor=cast.other_clinician)
    assert (denied.object_type, denied.object_id) == ("session", str(group_session.pk))
    assert denied.detail["attempted"] == "write_note"


@pytest.mark.parametrize("role", ["admin", "auditor", "patient"])
def test_roles_without_clinical_access_cannot_write_notes(
    cast: Any, client_for: Any, role: str
) -> None:
    response = client_for(getattr(cast, role)).post(
        "/api/notes/", progress_note_body(cast.patient), format="json"
    )

    assert response.status_code == 403
    assert set(response.json()) == {"code", "detail"}
    assert not Note.objects.exists()


def test_anonymous_caller_cannot_write_notes(cast: Any, client_for: Any) -> None:
    response = client_for(None).post("/api/notes/", progress_note_body(cast.patient), format="json")

    assert response.status_code == 401


@pytest.mark.parametrize("kind", [["progress"], {"kind": "progress"}, 7, None])
def test_a_kind_that_is_not_a_string_is_a_field_error(
    cast: Any, client_for: Any, kind: Any
) -> None:
    body = progress_note_body(cast.patient, kind=kind)
    response = client_for(cast.clinician).post("/api/notes/", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "kind" in response.json()["fields"]
    assert not Note.objects.exists()
