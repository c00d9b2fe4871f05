"""docs/realtime.md stays true: every documented frame type is handled, every handled
frame type and close code is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from sessions_app.rooms import consumers, protocol

DOC = Path(settings.BASE_DIR) / "docs" / "realtime.md"


def _section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end != -1 else None]


def _frames(title: str) -> set[str]:
    return set(re.findall(r"^### `([a-z_.]+)`", _section(title), flags=re.MULTILINE))


def test_every_client_frame_is_documented_and_every_documented_one_is_handled():
    documented = _frames("Client → server")
    assert documented == set(consumers.CLIENT_FRAMES)
    for frame_type in documented:
        assert callable(
            getattr(consumers.RoomConsumer, "frame_" + consumers.CLIENT_FRAMES[frame_type])
        )


def test_every_server_frame_is_documented():
    assert _frames("Server → client") == consumers.SERVER_FRAMES


def test_every_close_code_is_documented():
    table = _section("Close codes")
    for code in (
        protocol.CLOSE_TICKET,
        protocol.CLOSE_FORBIDDEN,
        protocol.CLOSE_ENDED,
        protocol.CLOSE_LOCKED,
        consumers.CLOSE_POLICY,
        consumers.CLOSE_TRY_LATER,
        consumers.CLOSE_TOO_SLOW,
        protocol.CLOSE_LAYER_RESET,
    ):
        assert f"`{code}`" in table


@pytest.mark.django_db(transaction=True)
async def test_each_documented_client_frame_gets_an_answer_other_than_unknown_type(
    join: Any, cast: Any, live_session: Any
):
    """Sent by staff over a real socket, no documented frame is refused as unknown."""
    staff, _ = await join(cast.facilitator, live_session)
    bodies = {"user_id": cast.facilitator.pk, "seq": 1, "after_seq": 0, "text": "hi"}
    for frame_type in sorted(_frames("Client → server") - {"session.end"}):
        frame = {"type": frame_type, "ref": frame_type, **bodies}
        frame["client_id"] = "00000000-0000-4000-8000-000000000001"
        await staff.send(frame)
        await staff.send({"type": "ping", "ref": "sync"})
        # Everything before the pong answers this frame; none says it is unknown.
        while (reply := await staff.receive())["type"] != "pong":
            assert reply.get("code") not in ("unknown_type", "malformed"), frame_type
    await staff.send({"type": "session.end"})
    assert (await staff.receive_type("session.ended"))["session_id"] == live_session.pk
