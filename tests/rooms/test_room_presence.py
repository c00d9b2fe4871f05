from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.utils import timezone

from groups.models import Enrollment, EnrollmentStatus
from sessions_app.rooms.models import AttendanceSegment, Participant
from tests.factories import SessionFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


def _segments(user: Any) -> list[tuple[Any, Any]]:
    return [
        (s.joined_at, s.left_at)
        for s in AttendanceSegment.objects.filter(user=user).order_by("joined_at")
    ]


async def test_join_and_leave_are_announced_once_per_person(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    first, _ = await join(cast.patient, open_session)
    joined = await staff.receive_type("presence.joined")
    assert joined["participant"]["user_id"] == cast.patient.pk
    # A second tab is the same person: no second entry, no second announcement.
    second, state = await join(cast.patient, open_session)
    assert [p["user_id"] for p in state["participants"]].count(cast.patient.pk) == 1
    assert await staff.nothing()
    await first.close()
    assert await staff.nothing()  # still here through the other tab
    await second.close()
    left = await staff.receive_type("presence.left")
    assert left == {"type": "presence.left", "user_id": cast.patient.pk}
    await staff.close()


async def test_reconnect_within_grace_keeps_identity_and_is_not_announced(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    settings.ROOM_GRACE_SECONDS = 30
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.receive_type("presence.joined")
    await staff.send({"type": "participant.mute", "user_id": cast.patient.pk})
    await staff.receive_type("presence.updated")
    await patient.close()
    back, state = await join(cast.patient, open_session)
    assert state["me"]["muted"] is True and state["me"]["state"] == "admitted"
    assert await staff.nothing()
    # One attendance stretch across the blip.
    segments = await sync_to_async(_segments)(cast.patient)
    assert len(segments) == 1 and segments[0][1] is None
    await back.close()
    await staff.close()


async def test_grace_expiry_takes_the_person_out_and_closes_attendance(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    settings.ROOM_GRACE_SECONDS = 30
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.receive_type("presence.joined")
    left_at = timezone.now()
    await patient.close()
    assert await staff.nothing()
    with time_machine.travel(left_at + dt.timedelta(seconds=31)):
        # Any entry sweeps the room; the patient's grace is over by now.
        other, _ = await join(cast.clinician, open_session)
        assert (await staff.receive_type("presence.left"))["user_id"] == cast.patient.pk
        await other.close()
    segments = await sync_to_async(_segments)(cast.patient)
    assert len(segments) == 1
    assert abs((segments[0][1] - left_at).total_seconds()) < 5
    await staff.close()


async def test_people_leaving_close_together_each_leave_when_their_grace_ends(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    # No entry comes to sweep the room: the sweeps the closes scheduled take them out,
    # one sweep per room and second, however many sockets close in it.
    settings.ROOM_GRACE_SECONDS = 1
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    clinician, _ = await join(cast.clinician, open_session)
    await patient.close()
    await asyncio.sleep(0.7)
    await clinician.close()
    gone = set()
    for _ in range(2):
        gone.add((await staff.receive_type("presence.left", timeout=5))["user_id"])
    assert gone == {cast.patient.pk, cast.clinician.pk}
    assert await sync_to_async(
        lambda: set(
            Participant.objects.filter(session=open_session, online=False).values_list(
                "user_id", flat=True
            )
        )
    )() == {cast.patient.pk, cast.clinician.pk}
    await staff.close()


async def test_sockets_closing_at_once_each_leave_or_stay_as_alone(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    # Closes that come at once, in two rooms, are released together: each still means
    # what it would alone. A person whose every tab closes leaves once, when the grace
    # window ends; one with a tab left stays; each room is swept for its own.
    settings.ROOM_GRACE_SECONDS = 1
    other_room = await sync_to_async(SessionFactory)(cohort=cast.cohort, waiting_room=False)
    staff, _ = await join(cast.facilitator, open_session)
    staff_elsewhere, _ = await join(cast.facilitator, other_room)
    patient_tab, _ = await join(cast.patient, open_session)
    patient_other_tab, _ = await join(cast.patient, open_session)
    clinician_tab, _ = await join(cast.clinician, open_session)
    clinician_other_tab, _ = await join(cast.clinician, open_session)
    clinician_elsewhere, _ = await join(cast.clinician, other_room)
    for _ in range(2):
        await staff.receive_type("presence.joined")
    await staff_elsewhere.receive_type("presence.joined")
    await asyncio.gather(
        patient_tab.close(),
        patient_other_tab.close(),
        clinician_tab.close(),
        clinician_elsewhere.close(),
    )
    left = await staff.receive_type("presence.left", timeout=5)
    assert left["user_id"] == cast.patient.pk
    left = await staff_elsewhere.receive_type("presence.left", timeout=5)
    assert left["user_id"] == cast.clinician.pk
    assert await staff.nothing(timeout=1.5)  # the clinician still has a tab here
    online = await sync_to_async(
        lambda: set(
            Participant.objects.filter(session=open_session, online=True).values_list(
                "user_id", flat=True
            )
        )
    )()
    assert online == {cast.facilitator.pk, cast.clinician.pk}
    segments = await sync_to_async(_segments)(cast.patient)
    assert len(segments) == 1 and segments[0][1] is not None
    await clinician_other_tab.close()
    assert (await staff.receive_type("presence.left", timeout=5))["user_id"] == cast.clinician.pk
    await staff.close()
    await staff_elsewhere.close()


async def test_a_close_for_ended_access_leaves_now_while_others_keep_their_grace(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    # The patient's access ends (discharged) and the room closes their socket: they leave
    # at once, while a socket closing beside it keeps its person's grace window.
    settings.ROOM_GRACE_SECONDS = 30
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    clinician_tab, _ = await join(cast.clinician, open_session)
    for _ in range(2):
        await staff.receive_type("presence.joined")
    await sync_to_async(
        lambda: Enrollment.objects.filter(patient=cast.patient).update(
            status=EnrollmentStatus.DISCHARGED, discharged_on=timezone.now().date()
        )
    )()
    await patient.send({"type": "hand.raise"})
    assert await patient.closed() == 4403
    await asyncio.gather(clinician_tab.close(), patient.close())
    left = await staff.receive_type("presence.left", timeout=5)
    assert left["user_id"] == cast.patient.pk
    assert await staff.nothing(timeout=1)  # the clinician is within their grace window
    await staff.close()


async def test_hand_raise_and_lower_are_shared(join: Any, cast: Any, open_session: Any):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.receive_type("presence.joined")
    await patient.send({"type": "hand.raise"})
    update = await staff.receive_type("presence.updated")
    assert update["participant"]["hand_raised"] is True
    await patient.send({"type": "hand.lower"})
    update = await staff.receive_type("presence.updated")
    assert update["participant"]["hand_raised"] is False
    await patient.close()
    await staff.close()


async def test_ping_gets_pong(join: Any, cast: Any, live_session: Any):
    # Even a patient still in the waiting room may ping.
    patient, state = await join(cast.patient, live_session)
    assert state["me"]["state"] == "waiting"
    await patient.send({"type": "ping"})
    assert await patient.receive() == {"type": "pong"}
    await patient.send({"type": "ping", "ref": "abc"})
    assert await patient.receive() == {"type": "pong", "ref": "abc"}
    await patient.close()


async def test_participant_state_is_kept_in_the_database(join: Any, cast: Any, open_session: Any):
    patient, _ = await join(cast.patient, open_session)
    await patient.send({"type": "hand.raise"})
    await patient.receive_type("presence.updated")
    row = await sync_to_async(Participant.objects.get)(user=cast.patient)
    assert (row.online, row.state, row.hand_raised) == (True, "admitted", True)
    await patient.close()
    row = await sync_to_async(Participant.objects.get)(user=cast.patient)
    assert row.online is False


async def test_room_stretches_show_in_the_attendance_report(
    join: Any, cast: Any, open_session: Any, client_for: Any
):
    patient, _ = await join(cast.patient, open_session)
    url = f"/api/sessions/{open_session.pk}/attendance/"
    report = await sync_to_async(lambda: client_for(cast.facilitator).get(url).json())()
    (row,) = report
    assert (row["user_id"], row["in_room"], row["status"]) == (cast.patient.pk, True, "present")
    await patient.close()
    report = await sync_to_async(lambda: client_for(cast.facilitator).get(url).json())()
    assert report[0]["in_room"] is False and report[0]["last_leave"] is not None
