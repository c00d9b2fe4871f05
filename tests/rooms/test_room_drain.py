"""A room worker told to stop closes its sockets with 4012 (server restarting) and keeps
each participant's place; sockets that open while it stops are turned away unspent
(docs/realtime.md, "Stopping a worker"). Two workers restarted in turn under chat:
tests/faults/test_rolling_restart.py."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import weakref
from typing import Any

import pytest
import websockets

from sessions_app.rooms import drain, tickets, watchdog
from sessions_app.rooms.protocol import CLOSE_LAYER_RESET
from tests.rooms.conftest import open_socket
from tests.rooms.servers import Daphne
from vioip.accounts.tokens import token_issue

pytestmark = pytest.mark.django_db(transaction=True)


def test_sigterm_closes_the_sockets_with_4012_then_the_worker_exits(
    daphne: Daphne, cast: Any, live_session: Any
):
    ticket = tickets.ticket_issue(
        user=cast.facilitator, session=live_session, token=token_issue(user=cast.facilitator).token
    ).raw
    url = f"ws://127.0.0.1:{daphne.port}/ws/sessions/{live_session.pk}/?ticket={ticket}"

    async def stopped_under_me() -> int | None:
        async with websockets.connect(url, origin=daphne.http) as socket:
            first = json_type(await socket.recv())
            assert first == "room.state"
            daphne.process.send_signal(signal.SIGTERM)
            try:
                while True:
                    await asyncio.wait_for(socket.recv(), timeout=10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(stopped_under_me()) == CLOSE_LAYER_RESET
    try:
        assert daphne.process.wait(timeout=15) == 0
    except subprocess.TimeoutExpired:
        pytest.fail("the worker did not exit after its sockets closed")
    log = daphne.log.read_text()
    assert "Traceback" not in log and "Exception inside application" not in log, log[-2000:]


def json_type(raw: Any) -> str:
    return str(json.loads(raw)["type"])


async def test_a_stopping_worker_keeps_places_and_turns_new_sockets_away_unspent(
    join: Any, issue_ticket: Any, cast: Any, live_session: Any, monkeypatch: Any, settings: Any
):
    settings.ROOM_GRACE_SECONDS = 30
    # This process's sockets, apart from those earlier tests left unreleased.
    monkeypatch.setattr(watchdog, "_sockets", weakref.WeakSet())
    monkeypatch.setattr(drain, "_draining", False)
    facilitator, _ = await join(cast.facilitator, live_session)
    patient, _ = await join(cast.patient, live_session)
    await facilitator.receive_about("presence.joined", cast.patient.pk)

    stopping = asyncio.ensure_future(drain.drain(timeout=5))
    assert await patient.closed() == CLOSE_LAYER_RESET
    assert await facilitator.closed() == CLOSE_LAYER_RESET
    # The clients answer the close; the worker waited for that, and nothing is left open.
    await patient.close()
    await facilitator.close()
    assert await stopping == 0

    # While it stops, a new socket is closed before its ticket is redeemed.
    ticket = await issue_ticket(cast.patient, live_session)
    turned_away = await open_socket(live_session.pk, ticket)
    assert await turned_away.closed() == CLOSE_LAYER_RESET

    # Another worker (here: the same process, no longer stopping). The facilitator is back
    # first and finds the patient still present: the 4012 close kept their place.
    monkeypatch.setattr(drain, "_draining", False)
    watcher, watcher_state = await join(cast.facilitator, live_session)
    assert cast.patient.pk in {p["user_id"] for p in watcher_state["participants"]}
    # The patient comes back with the ticket the stopping worker left unspent, and nobody
    # is told of the blip.
    back = await open_socket(live_session.pk, ticket)
    state = await back.receive()
    assert state["type"] == "room.state"
    while not await watcher.nothing(0.3):
        frame = await watcher.receive()
        assert frame["type"] not in ("presence.left", "presence.joined"), frame
    await back.close()
    await watcher.close()
