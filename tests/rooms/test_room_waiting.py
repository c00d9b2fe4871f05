from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from sessions_app.rooms.models import AttendanceSegment

pytestmark = pytest.mark.django_db(transaction=True)


async def test_waiting_patient_sees_only_their_own_state(join: Any, cast: Any, live_session: Any):
    staff, _ = await join(cast.facilitator, live_session)
    await staff.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "hi"})
    await staff.receive_type("chat.message")
    patient, state = await join(cast.patient, live_session)
    assert state["me"]["state"] == "waiting"
    assert "participants" not in state and "messages" not in state and "last_seq" not in state
    # Staff see the waiting patient in the roster; the chat does not reach the patient.
    joined = await staff.receive_type("presence.joined")
    assert joined["participant"]["state"] == "waiting"
    await staff.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "secret"})
    await staff.receive_type("chat.message")
    assert await patient.nothing()
    await patient.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "let me in"})
    assert (await patient.receive_type("error"))["code"] == "not_admitted"
    await patient.send({"type": "chat.history", "after_seq": 0})
    assert (await patient.receive_type("error"))["code"] == "not_admitted"
    await patient.close()
    await staff.close()


async def test_admitted_patient_gets_the_full_room(join: Any, cast: Any, live_session: Any):
    staff, _ = await join(cast.facilitator, live_session)
    patient, _ = await join(cast.patient, live_session)
    await staff.receive_type("presence.joined")
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    update = await staff.receive_type("presence.updated")
    assert update["participant"]["state"] == "admitted"
    state = await patient.receive_type("room.state")
    assert state["me"]["state"] == "admitted"
    assert {p["user_id"] for p in state["participants"]} == {cast.patient.pk, cast.facilitator.pk}
    segments = await sync_to_async(AttendanceSegment.objects.filter(user=cast.patient).count)()
    assert segments == 1
    await patient.close()
    await staff.close()


async def test_waiting_time_is_not_attendance(join: Any, cast: Any, live_session: Any):
    patient, _ = await join(cast.patient, live_session)
    await patient.close()
    assert await sync_to_async(AttendanceSegment.objects.count)() == 0


async def test_second_tab_while_waiting_admits_no_one(join: Any, cast: Any, live_session: Any):
    first, _ = await join(cast.patient, live_session)
    second, state = await join(cast.patient, live_session)
    assert state["me"]["state"] == "waiting"
    await first.close()
    await second.close()


async def test_second_tab_of_an_admitted_patient_joins_admitted(
    join: Any, cast: Any, live_session: Any
):
    staff, _ = await join(cast.facilitator, live_session)
    first, _ = await join(cast.patient, live_session)
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    await first.receive_type("room.state")
    second, state = await join(cast.patient, live_session)
    assert state["me"]["state"] == "admitted"
    await first.close()
    await second.close()
    await staff.close()


async def test_step_out_sends_the_patient_back_to_waiting_and_keeps_the_stretch(
    join: Any, cast: Any, live_session: Any
):
    staff, _ = await join(cast.facilitator, live_session)
    patient, _ = await join(cast.patient, live_session)
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    await patient.receive_type("room.state")
    await staff.send({"type": "participant.step_out", "user_id": cast.patient.pk})
    state = await patient.receive_type("room.state")
    assert state["me"]["state"] == "waiting" and "messages" not in state
    update = await staff.receive_type("presence.updated")
    while update["participant"]["state"] != "waiting":
        update = await staff.receive_type("presence.updated")
    # A private check-in is treatment time: the stretch stays open through it.
    segment = await sync_to_async(AttendanceSegment.objects.get)(user=cast.patient)
    assert segment.left_at is None
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    assert (await patient.receive_type("room.state"))["me"]["state"] == "admitted"
    segment = await sync_to_async(AttendanceSegment.objects.get)(user=cast.patient)
    assert segment.left_at is None
    await patient.close()
    await staff.close()


async def test_admitted_patients_do_not_see_the_waiting_room(
    join: Any, cast: Any, live_session: Any
):
    from tests.factories import EnrollmentFactory, UserFactory

    def second_patient() -> Any:
        other = UserFactory(username="casey", role="patient", first_name="Casey")
        EnrollmentFactory(cohort=cast.cohort, patient=other)
        return other

    casey = await sync_to_async(second_patient)()
    staff, _ = await join(cast.facilitator, live_session)
    alex, _ = await join(cast.patient, live_session)
    await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
    await alex.receive_type("room.state")
    waiting, _ = await join(casey, live_session)
    await staff.receive_about("presence.joined", casey.pk)
    assert await alex.nothing()
    await staff.send({"type": "waiting.admit", "user_id": casey.pk})
    assert (await alex.receive_type("presence.joined"))["participant"]["user_id"] == casey.pk
    await waiting.close()
    await alex.close()
    await staff.close()
