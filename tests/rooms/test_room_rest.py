from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone

from sessions_app.rooms.models import AttendanceSegment, ChatMessage
from tests.factories import EnrollmentFactory, SessionFactory, UserFactory
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _messages(session: Any, sender: Any, count: int) -> None:
    now = timezone.now()
    ChatMessage.objects.bulk_create(
        ChatMessage(
            session=session,
            seq=n,
            sender=sender,
            client_id=uuid.uuid4(),
            text=f"message {n}",
            sent_at=now,
            deleted=n == 2,
        )
        for n in range(1, count + 1)
    )


def test_staff_read_the_transcript_after_a_seq_paginated(
    client_for: Any, cast: Any, live_session: Any
):
    _messages(live_session, cast.patient, 5)
    client = client_for(cast.clinician)
    response = client.get(f"/api/sessions/{live_session.pk}/messages/?after_seq=1&page_size=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    assert [m["seq"] for m in body["results"]] == [2, 3]
    # Staff see a deleted message's text and that it was deleted.
    assert body["results"][0]["deleted"] is True
    assert body["results"][0]["text"] == "message 2"
    assert body["results"][1]["sender"]["display_name"] == "Alex R."
    assert AuditEvent.objects.filter(action="read", object_type="chat_transcript").exists()


def test_patients_and_admins_cannot_list_messages(client_for: Any, cast: Any, live_session: Any):
    _messages(live_session, cast.patient, 1)
    # Only the session's care team: everyone else gets the same 404, missing or not, and
    # the refusal is audited once, by the door.
    for user in (cast.patient, cast.admin, cast.outsider, cast.other_clinician):
        response = client_for(user).get(f"/api/sessions/{live_session.pk}/messages/")
        assert response.status_code == 404, user.username
        assert "message 1" not in response.content.decode()
        denied = AuditEvent.objects.filter(
            action="denied", actor=user, object_type="chat_transcript"
        )
        assert [e.object_id for e in denied] == [str(live_session.pk)], user.username
    assert (
        client_for(cast.other_patient).get(f"/api/sessions/{live_session.pk}/messages/").status_code
        == 404
    )
    assert (
        client_for(cast.auditor).get(f"/api/sessions/{live_session.pk}/messages/").status_code
        == 403
    )
    assert not AuditEvent.objects.filter(action="read", object_type="chat_transcript").exists()


def test_transcript_read_is_audited_once_per_patient_on_the_page(
    client_for: Any, cast: Any, live_session: Any
):
    casey = UserFactory(username="casey", role="patient", first_name="Casey")
    EnrollmentFactory(cohort=cast.cohort, patient=casey)
    now = timezone.now()
    senders = [cast.patient, cast.facilitator, casey, cast.patient, cast.facilitator]
    ChatMessage.objects.bulk_create(
        ChatMessage(
            session=live_session,
            seq=n,
            sender=sender,
            client_id=uuid.uuid4(),
            text=f"message {n}",
            sent_at=now,
        )
        for n, sender in enumerate(senders, start=1)
    )
    client = client_for(cast.clinician)
    response = client.get(f"/api/sessions/{live_session.pk}/messages/?page_size=2")
    assert response.status_code == 200
    reads = AuditEvent.objects.filter(action="read", object_type="chat_transcript")
    # The first page holds Alex's and the facilitator's messages: one event, for Alex.
    assert [(e.patient_id, e.actor_id) for e in reads] == [(cast.patient.pk, cast.clinician.pk)]
    response = client.get(f"/api/sessions/{live_session.pk}/messages/?page_size=5")
    assert response.status_code == 200
    latest = AuditEvent.objects.filter(action="read", object_type="chat_transcript").order_by(
        "-seq"
    )[:2]
    assert sorted(e.patient_id for e in latest) == sorted([cast.patient.pk, casey.pk])
    # Each patient's own audit lists the read.
    auditor = client_for(cast.auditor)
    for patient, count in ((cast.patient, 2), (casey, 1)):
        listed = auditor.get("/api/audit/", {"patient": patient.pk, "page_size": 200})
        assert listed.status_code == 200
        rows = [r for r in listed.json()["results"] if r["object_type"] == "chat_transcript"]
        assert len(rows) == count, patient.username


def test_bad_after_seq_is_a_field_error(client_for: Any, cast: Any, live_session: Any):
    response = client_for(cast.facilitator).get(
        f"/api/sessions/{live_session.pk}/messages/?after_seq=x"
    )
    assert response.status_code == 400
    assert response.json()["fields"] == {"after_seq": ["A whole number ≥ 0."]}


@pytest.fixture
def finished_session(cast: Any) -> Any:
    start = timezone.now() - dt.timedelta(hours=4)
    return SessionFactory(
        cohort=cast.cohort, starts_at=start, ends_at=start + dt.timedelta(hours=3)
    )


def _patient(cast: Any, username: str) -> Any:
    user = UserFactory(username=username, role="patient", first_name=username.title())
    EnrollmentFactory(
        cohort=cast.cohort, patient=user, start_date=timezone.localdate() - dt.timedelta(days=30)
    )
    return user


def _segment(session: Any, user: Any, start_min: int, end_min: int | None) -> None:
    AttendanceSegment.objects.create(
        session=session,
        user=user,
        joined_at=session.starts_at + dt.timedelta(minutes=start_min),
        left_at=None if end_min is None else session.starts_at + dt.timedelta(minutes=end_min),
    )


def test_attendance_lists_every_expected_patient_with_a_status(
    client_for: Any, cast: Any, finished_session: Any
):
    late, early, absent = _patient(cast, "late"), _patient(cast, "early"), _patient(cast, "absent")
    # Alex: two stretches merged into 170 minutes, on time.
    _segment(finished_session, cast.patient, -5, 60)
    _segment(finished_session, cast.patient, 70, 180)
    _segment(finished_session, late, 11, 180)
    _segment(finished_session, early, 0, 164)
    _segment(finished_session, cast.facilitator, 0, 180)  # staff are not listed
    response = client_for(cast.facilitator).get(f"/api/sessions/{finished_session.pk}/attendance/")
    assert response.status_code == 200
    rows = {row["user_id"]: row for row in response.json()}
    assert set(rows) == {cast.patient.pk, late.pk, early.pk, absent.pk}
    assert rows[cast.patient.pk]["status"] == "present"
    assert rows[cast.patient.pk]["minutes_attended"] == 170
    assert rows[late.pk]["status"] == "late" and rows[late.pk]["minutes_attended"] == 169
    assert rows[early.pk]["status"] == "left_early" and rows[early.pk]["left_early"] is True
    assert rows[absent.pk] | {} == {
        "user_id": absent.pk,
        "display_name": absent.display_name,
        "minutes_attended": 0,
        "first_join": None,
        "last_leave": None,
        "in_room": False,
        "late": False,
        "left_early": False,
        "status": "absent",
    }


def test_attendance_thresholds_come_from_settings(
    client_for: Any, cast: Any, finished_session: Any, settings: Any
):
    settings.ATTENDANCE_LATE_MINUTES = 20
    _segment(finished_session, cast.patient, 11, 180)
    response = client_for(cast.clinician).get(f"/api/sessions/{finished_session.pk}/attendance/")
    (row,) = response.json()
    assert row["status"] == "present"


def test_patients_and_other_staff_cannot_read_attendance(
    client_for: Any, cast: Any, finished_session: Any
):
    url = f"/api/sessions/{finished_session.pk}/attendance/"
    for user in (cast.patient, cast.admin, cast.outsider, cast.other_clinician):
        assert client_for(user).get(url).status_code == 404, user.username
        assert AuditEvent.objects.filter(
            action="denied", actor=user, object_type="attendance"
        ).exists()
    assert client_for(cast.other_patient).get(url).status_code == 404
    assert not AuditEvent.objects.filter(action="read", object_type="attendance").exists()


def test_schema_documents_the_room_endpoints(client_for: Any, cast: Any):
    response = client_for(cast.admin).get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in ("ticket/", "messages/", "attendance/"):
        assert f"/api/sessions/{{session_id}}/{path}" in text


def test_someone_in_the_room_without_presence_is_taken_out_before_the_report(
    client_for: Any, cast: Any, live_session: Any
):
    from sessions_app.rooms.models import Participant

    # As if the only process holding their socket died and its presence was lost.
    Participant.objects.create(
        session=live_session, user=cast.patient, state="admitted", online=True
    )
    _segment(live_session, cast.patient, 0, None)
    response = client_for(cast.facilitator).get(f"/api/sessions/{live_session.pk}/attendance/")
    (row,) = response.json()
    assert row["in_room"] is False and row["last_leave"] is not None
    assert not Participant.objects.get(user=cast.patient).online


def test_sweep_command_needs_shared_presence(settings: Any):
    from io import StringIO

    from django.core.management import call_command

    settings.REDIS_URL = ""
    out = StringIO()
    call_command("sweep_rooms", stdout=out)
    assert "nothing to sweep" in out.getvalue()


def test_attendance_report_queries_do_not_grow_with_the_cohort(
    client_for: Any, cast: Any, finished_session: Any, django_assert_max_num_queries: Any
):
    client = client_for(cast.facilitator)
    url = f"/api/sessions/{finished_session.pk}/attendance/"
    for n in range(3):
        _segment(finished_session, _patient(cast, f"first{n}"), 0, 180)
    client.get(url)  # warm up
    with django_assert_max_num_queries(30) as small:
        client.get(url)
    for n in range(12):
        _segment(finished_session, _patient(cast, f"more{n}"), 0, 180)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert len(response.json()) == 16


def test_transcript_queries_do_not_grow_with_the_page(
    client_for: Any, cast: Any, live_session: Any, django_assert_max_num_queries: Any
):
    client = client_for(cast.facilitator)
    url = f"/api/sessions/{live_session.pk}/messages/"
    _messages(live_session, cast.patient, 2)
    client.get(url)
    with django_assert_max_num_queries(30) as small:
        client.get(url)
    ChatMessage.objects.all().delete()
    _messages(live_session, cast.clinician, 40)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).json()["count"] == 40
