"""Each process beats all of its sockets: presence stays fresh past its expiry, and a
socket learns the state the database holds even when a broadcast about it was lost."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from sessions_app.rooms.models import Participant
from sessions_app.rooms.protocol import CLOSE_ENDED, CLOSE_FORBIDDEN

pytestmark = pytest.mark.django_db(transaction=True)

TTL = 5  # the smallest allowed: one beat a second


@pytest.fixture
def open_session(live_session: Any, settings: Any) -> Any:
    settings.ROOM_PRESENCE_TTL_SECONDS = TTL
    live_session.waiting_room = False
    live_session.save()
    return live_session


def _set(session: Any, user: Any, **fields: Any) -> None:
    # Straight to the database: as if the broadcast about the change never arrived.
    Participant.objects.filter(session=session, user=user).update(**fields)


async def test_live_sockets_stay_present_past_the_presence_expiry(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.receive_about("presence.joined", cast.patient.pk)
    # Two expiries without a frame from either client: only the heartbeat keeps them in.
    await asyncio.sleep(TTL * 2)
    late, state = await join(cast.clinician, open_session)
    assert {p["user_id"] for p in state["participants"]} == {
        cast.facilitator.pk,
        cast.patient.pk,
        cast.clinician.pk,
    }
    while not await staff.nothing(0.1):
        frame = await staff.receive()
        assert frame["type"] != "presence.left", frame
    for socket in (late, patient, staff):
        await socket.close()


async def test_a_socket_catches_up_with_a_state_change_it_never_heard_of(
    join: Any, cast: Any, open_session: Any
):
    patient, state = await join(cast.patient, open_session)
    assert state["me"]["state"] == "admitted"
    await sync_to_async(_set)(open_session, cast.patient, state="waiting")
    fresh = await patient.receive_type("room.state", timeout=TTL)
    assert fresh["me"]["state"] == "waiting"
    assert "participants" not in fresh  # a waiting patient sees no roster
    await patient.close()


async def test_a_removed_participant_is_closed_by_the_heartbeat(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    await sync_to_async(_set)(open_session, cast.patient, removed=True)
    assert await patient.closed(timeout=TTL) == CLOSE_FORBIDDEN


async def test_a_socket_in_an_ended_session_is_closed_by_the_heartbeat(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    open_session.status = "ended"
    await sync_to_async(open_session.save)()
    assert await patient.closed(timeout=TTL) == CLOSE_ENDED
