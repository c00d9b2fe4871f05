"""A process hands each room's events to that room's sockets (sessions_app/rooms/fanout.py):
in order, after the socket's room.state, never to another room, and again after a room
emptied and filled."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import pytest

from sessions_app.rooms import selectors
from tests.factories import SessionFactory
from tests.rooms.conftest import open_socket

pytestmark = pytest.mark.django_db(transaction=True)


def chat(text: str) -> dict[str, Any]:
    return {"type": "chat.send", "client_id": str(uuid.uuid4()), "text": text}


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


@pytest.fixture
def second_live_session(cast: Any) -> Any:
    """Another room of the same cohort, open at the same time."""
    return SessionFactory(cohort=cast.cohort, waiting_room=False)


async def test_a_message_sent_while_a_socket_reads_its_state_comes_after_the_state(
    join: Any, issue_ticket: Any, cast: Any, open_session: Any, monkeypatch: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    reading = threading.Event()
    read_states = selectors.room_states

    def slow_state(**kwargs: Any) -> Any:
        if not reading.is_set():
            reading.set()
            time.sleep(0.5)  # the room goes on meanwhile
        return read_states(**kwargs)

    monkeypatch.setattr(selectors, "room_states", slow_state)
    patient = await open_socket(open_session.pk, await issue_ticket(cast.patient, open_session))
    assert await asyncio.to_thread(reading.wait, 5)
    await staff.send(chat("while you were arriving"))
    sent = await staff.receive_type("chat.message")

    state = await patient.receive()
    assert state["type"] == "room.state"
    if sent["seq"] not in [m["seq"] for m in state["messages"]]:
        later = await patient.receive_type("chat.message")
        assert later["seq"] == sent["seq"]
    await patient.close()
    await staff.close()


async def test_a_rooms_events_reach_only_its_own_sockets(
    join: Any, cast: Any, open_session: Any, second_live_session: Any
):
    here, _ = await join(cast.facilitator, open_session)
    elsewhere, _ = await join(cast.facilitator, second_live_session)
    await here.send(chat("only here"))
    assert (await here.receive_type("chat.message"))["text"] == "only here"
    assert await elsewhere.nothing(0.3)
    await here.close()
    await elsewhere.close()


async def test_a_room_emptied_and_entered_again_hears_its_events(
    join: Any, cast: Any, open_session: Any
):
    first, _ = await join(cast.facilitator, open_session)
    await first.close()
    staff, _ = await join(cast.facilitator, open_session)
    patient, _ = await join(cast.patient, open_session)
    await staff.receive_about("presence.joined", cast.patient.pk)
    await patient.send(chat("still heard"))
    assert (await staff.receive_type("chat.message"))["text"] == "still heard"
    await patient.close()
    await staff.close()
