from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from sessions_app.models import Session
from sessions_app.rooms.models import AttendanceSegment, ChatMessage, Participant, Room
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

STAFF_FRAMES = [
    {"type": "waiting.admit", "user_id": 0},
    {"type": "participant.mute", "user_id": 0},
    {"type": "participant.unmute", "user_id": 0},
    {"type": "participant.remove", "user_id": 0},
    {"type": "participant.step_out", "user_id": 0},
    {"type": "room.lock"},
    {"type": "room.unlock"},
    {"type": "chat.delete", "seq": 1},
    {"type": "session.end"},
]


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


def chat(text: str, client_id: str | None = None) -> dict[str, Any]:
    return {"type": "chat.send", "client_id": client_id or str(uuid.uuid4()), "text": text}


async def test_patient_sending_staff_frames_is_refused_and_nothing_changes(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    await staff.send(chat("first"))
    await staff.receive_type("chat.message")
    patient, _ = await join(cast.patient, open_session)
    for frame in STAFF_FRAMES:
        target = {"user_id": cast.facilitator.pk} if "user_id" in frame else {}
        await patient.send({**frame, **target})
        error = await patient.receive_type("error")
        assert error["code"] == "forbidden", frame["type"]
    room = await sync_to_async(Room.objects.get)(pk=open_session.pk)
    session = await sync_to_async(Session.objects.get)(pk=open_session.pk)
    message = await sync_to_async(ChatMessage.objects.get)()
    assert (room.locked, session.status, message.deleted) == (False, "scheduled", False)
    denied = await sync_to_async(
        lambda: AuditEvent.objects.filter(action="moderate", outcome="denied").count()
    )()
    assert denied == len(STAFF_FRAMES)
    await patient.close()
    await staff.close()


async def test_muted_patient_cannot_chat_until_unmuted(join: Any, cast: Any, open_session: Any):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.send({"type": "participant.mute", "user_id": cast.patient.pk})
    update = await patient.receive_type("presence.updated")
    assert update["participant"]["muted"] is True
    await patient.send(chat("can I talk?"))
    assert (await patient.receive_type("error"))["code"] == "muted"
    await staff.send({"type": "participant.unmute", "user_id": cast.patient.pk})
    assert (await patient.receive_type("presence.updated"))["participant"]["muted"] is False
    await patient.send(chat("thanks"))
    assert (await patient.receive_type("chat.message"))["seq"] == 1
    await patient.close()
    await staff.close()


async def test_a_resend_after_a_mute_gets_the_stored_original(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    client_id = str(uuid.uuid4())
    await patient.send(chat("before the mute", client_id))
    assert (await patient.receive_type("chat.message"))["seq"] == 1
    await staff.send({"type": "participant.mute", "user_id": cast.patient.pk})
    assert (await patient.receive_type("presence.updated"))["participant"]["muted"] is True
    # The client never saw its acknowledgement and resends: the message was kept, so the
    # answer is the stored original, not "muted".
    await patient.send(chat("before the mute", client_id))
    again = await patient.receive_type("chat.message")
    assert (again["seq"], again["text"]) == (1, "before the mute")
    await patient.send(chat("after the mute"))
    assert (await patient.receive_type("error"))["code"] == "muted"
    count = await sync_to_async(ChatMessage.objects.count)()
    assert count == 1
    await patient.close()
    await staff.close()


async def test_removed_participant_is_closed_everywhere_and_barred(
    join: Any, refused: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    first, _ = await join(cast.patient, open_session)
    second, _ = await join(cast.patient, open_session)
    await staff.send({"type": "participant.remove", "user_id": cast.patient.pk})
    assert await first.closed() == 4403
    assert await second.closed() == 4403
    assert (await staff.receive_about("presence.left", cast.patient.pk))["type"] == "presence.left"
    assert await refused(cast.patient, open_session) == 4403
    row = await sync_to_async(Participant.objects.get)(user=cast.patient)
    assert row.removed and row.removed_by_id == cast.facilitator.pk
    segment = await sync_to_async(AttendanceSegment.objects.get)(user=cast.patient)
    assert segment.left_at is not None
    await staff.close()


async def test_staff_cannot_remove_staff(join: Any, cast: Any, open_session: Any):
    staff, _ = await join(cast.facilitator, open_session)
    await staff.send({"type": "participant.remove", "user_id": cast.clinician.pk})
    assert (await staff.receive_type("error"))["code"] == "not_found"
    clinician, _ = await join(cast.clinician, open_session)
    await staff.send({"type": "participant.remove", "user_id": cast.clinician.pk})
    assert (await staff.receive_type("error"))["code"] == "invalid"
    await clinician.close()
    await staff.close()


async def test_locked_room_refuses_patients_not_yet_admitted(
    join: Any, refused: Any, cast: Any, live_session: Any
):
    staff, _ = await join(cast.facilitator, live_session)
    patient, _ = await join(cast.patient, live_session)
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    await patient.receive_type("room.state")
    await staff.send({"type": "room.lock"})
    updated = await patient.receive_type("room.updated")
    assert updated["room"]["locked"] is True
    from tests.factories import EnrollmentFactory, UserFactory

    def newcomer() -> Any:
        user = UserFactory(username="casey", role="patient")
        EnrollmentFactory(cohort=cast.cohort, patient=user)
        return user

    casey = await sync_to_async(newcomer)()
    assert await refused(casey, live_session) == 4423
    # Already admitted people come back in; staff always do.
    again, state = await join(cast.patient, live_session)
    assert state["me"]["state"] == "admitted"
    clinician, _ = await join(cast.clinician, live_session)
    await staff.send({"type": "room.unlock"})
    assert (await patient.receive_type("room.updated"))["room"]["locked"] is False
    late, state = await join(casey, live_session)
    assert state["me"]["state"] == "waiting"
    for socket in (late, clinician, again, patient, staff):
        await socket.close()


async def test_deleted_message_is_hidden_for_everyone_but_kept(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await patient.send(chat("something to hide"))
    seq = (await staff.receive_type("chat.message"))["seq"]
    # Someone enters while it is visible (room.state shows it), then again after.
    clinician, state = await join(cast.clinician, open_session)
    assert [m["text"] for m in state["messages"]] == ["something to hide"]
    await clinician.close()
    await staff.send({"type": "chat.delete", "seq": seq})
    assert await patient.receive_type("chat.deleted") == {"type": "chat.deleted", "seq": seq}
    await patient.send({"type": "chat.history", "after_seq": 0})
    (hidden,) = (await patient.receive_type("chat.history"))["messages"]
    assert hidden["deleted"] is True and hidden["text"] is None
    clinician, state = await join(cast.clinician, open_session)
    (hidden,) = state["messages"]
    assert hidden["deleted"] is True and hidden["text"] is None
    await clinician.close()
    stored = await sync_to_async(ChatMessage.objects.get)()
    assert stored.deleted and stored.deleted_by_id == cast.facilitator.pk
    assert stored.text == "something to hide"
    await staff.send({"type": "chat.delete", "seq": 99})
    assert (await staff.receive_type("error"))["code"] == "not_found"
    await patient.close()
    await staff.close()


async def test_session_end_closes_every_socket_and_attendance(
    join: Any, refused: Any, cast: Any, live_session: Any
):
    staff, _ = await join(cast.facilitator, live_session)
    admitted, _ = await join(cast.patient, live_session)
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    await admitted.receive_type("room.state")
    await staff.send({"type": "session.end"})
    for socket in (admitted, staff):
        ended = await socket.receive_type("session.ended")
        assert ended["session_id"] == live_session.pk
        assert await socket.closed() == 4410
    session = await sync_to_async(Session.objects.get)(pk=live_session.pk)
    assert session.status == "ended" and session.ended_at is not None
    open_segments = await sync_to_async(
        AttendanceSegment.objects.filter(left_at__isnull=True).count
    )()
    assert open_segments == 0
    assert await refused(cast.patient, live_session) == 4410


async def test_session_end_also_closes_the_waiting_room(join: Any, cast: Any, live_session: Any):
    staff, _ = await join(cast.facilitator, live_session)
    waiting, _ = await join(cast.patient, live_session)
    await staff.send({"type": "session.end"})
    assert (await waiting.receive_type("session.ended"))["type"] == "session.ended"
    assert await waiting.closed() == 4410
    assert await staff.closed() == 4410


async def test_moderation_is_audited(join: Any, cast: Any, open_session: Any):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.send({"type": "participant.mute", "user_id": cast.patient.pk})
    await patient.receive_type("presence.updated")
    event = await sync_to_async(
        lambda: AuditEvent.objects.filter(action="moderate", outcome="allowed").get()
    )()
    assert event.actor_id == cast.facilitator.pk and event.patient_id == cast.patient.pk
    assert event.detail == {"frame": "participant.mute", "target": cast.patient.pk}
    await patient.close()
    await staff.close()
