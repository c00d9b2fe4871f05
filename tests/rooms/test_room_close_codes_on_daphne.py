"""Close codes as a real daphne sends them: daphne (autobahn) can only send 1000 and
3000-4999, so every code the rooms use must be one it can send, or the client sees 1011."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import websockets

from sessions_app.rooms import consumers, protocol, tickets
from tests.rooms.servers import Daphne
from vioip.accounts.tokens import token_issue


def test_every_room_close_code_is_one_daphne_can_send():
    codes = {
        protocol.CLOSE_TICKET,
        protocol.CLOSE_FORBIDDEN,
        protocol.CLOSE_ENDED,
        protocol.CLOSE_LOCKED,
        consumers.CLOSE_POLICY,
        consumers.CLOSE_TRY_LATER,
        consumers.CLOSE_TOO_SLOW,
        protocol.CLOSE_LAYER_RESET,
    }
    assert all(code == 1000 or 3000 <= code <= 4999 for code in codes), codes


@pytest.mark.django_db(transaction=True)
def test_twenty_bad_frames_close_with_the_policy_code_on_daphne(
    daphne: Daphne, cast: Any, live_session: Any
):
    ticket = tickets.ticket_issue(
        user=cast.facilitator, session=live_session, token=token_issue(user=cast.facilitator).token
    ).raw
    url = f"ws://127.0.0.1:{daphne.port}/ws/sessions/{live_session.pk}/?ticket={ticket}"

    async def flood() -> int | None:
        async with websockets.connect(url, origin=daphne.http) as socket:
            await socket.recv()  # room.state
            try:
                for _ in range(consumers.BAD_FRAMES_ALLOWED + 5):
                    await socket.send("not json")
                    await socket.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(flood()) == consumers.CLOSE_POLICY
    assert "Exception inside application" not in Path(daphne.log).read_text()
