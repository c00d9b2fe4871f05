"""Fuzzing the room's frame protocol over a real socket: random JSON, wrong types, huge and
binary frames. The server answers with documented error frames or closes, never 1011, and
stores nothing invalid."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.harness import DOCUMENTED_CLOSES, Daphne, OwnRedis, RoomClient

FRAME_TYPES = [
    "chat.send",
    "chat.history",
    "hand.raise",
    "hand.lower",
    "ping",
    "waiting.admit",
    "participant.mute",
    "participant.remove",
    "room.lock",
    "chat.delete",
    "session.end",
    "nonsense",
]
ERROR_CODES = {
    "malformed",
    "unknown_type",
    "invalid",
    "too_large",
    "binary",
    "forbidden",
    "not_admitted",
    "muted",
    "rate_limited",
    "chat_disabled",
    "not_found",
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
typed_frames = st.fixed_dictionaries(
    {"type": st.sampled_from(FRAME_TYPES)},
    optional={
        "client_id": st.one_of(st.uuids().map(str), json_values),
        "text": st.one_of(st.text(max_size=300), json_values),
        "after_seq": json_values,
        "user_id": json_values,
        "seq": json_values,
        "ref": st.one_of(st.text(max_size=80), json_values),
    },
).map(json.dumps)
# Hostile text: lone surrogates (json.dumps escapes them as \udxxx, which json.loads takes
# back), nesting past the parser's recursion within the 16 KiB limit, and hand toggles.
surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
surrogate_frames = st.one_of(
    st.builds(
        lambda t, s, where: json.dumps(
            {"type": t, "client_id": str(uuid.uuid4()), "text": "hi", "ref": "r"} | {where: s}
        ),
        st.sampled_from(FRAME_TYPES),
        st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), surrogates, st.text(max_size=5)),
        st.sampled_from(["text", "client_id", "ref", "type"]),
    ),
    st.builds(lambda t, s: json.dumps({"type": t, s: 1}), st.sampled_from(FRAME_TYPES), surrogates),
)
deep_frames = st.builds(
    lambda depth, shape: (
        "[" * depth + "]" * depth
        if shape == "list"
        else '{"type": "chat.history", "after_seq": ' + "[" * depth + "]" * depth + "}"
    ),
    st.integers(min_value=1000, max_value=8000),
    st.sampled_from(["list", "in a field"]),
)
hand_toggles = st.lists(st.sampled_from(["hand.raise", "hand.lower"]), min_size=1, max_size=8).map(
    lambda types: [json.dumps({"type": t}) for t in types]
)
frames = st.one_of(
    typed_frames,
    surrogate_frames,
    deep_frames,
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
    st.integers(min_value=16 * 1024, max_value=200 * 1024).map(
        lambda n: json.dumps({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "x" * n})
    ),
)


async def _send_batch(server: Daphne, room: Any, patient: Any, batch: list[Any]) -> None:
    client = RoomClient(server, room.session.pk)
    await client.open(await sync_to_async(room.ticket)(patient))
    for frame in batch:
        if client.closed:
            break
        assert client.ws is not None
        await client.ws.send(frame)
    if not client.closed:
        # A ping answered after the batch: the socket is still served.
        await client.ping("sync", timeout=20)
    await client.close()
    assert client.close_code in DOCUMENTED_CLOSES, client.close_code
    for frame in client.frames:
        assert frame["type"] != "error" or frame["code"] in ERROR_CODES, frame


@pytest.mark.usefixtures("_production_stack_only")
def test_random_frames_get_documented_answers_and_store_nothing_invalid(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    from sessions_app.rooms.models import ChatMessage
    from sessions_app.rooms.protocol import CHAT_TEXT_MAX_CHARS as MAX_TEXT

    room = make_room(1)
    patient = room.patients[0]
    server = start_daphne(
        database_url=test_database_url,
        redis_url=own_redis.url,
        VIOIP_ROOM_CHAT_RATE_MESSAGES="100000",
    )

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        batch=st.lists(
            st.one_of(frames.map(lambda f: [f]), hand_toggles), min_size=1, max_size=8
        ).map(lambda groups: [f for group in groups for f in group])
    )
    def run(batch: list[Any]) -> None:
        asyncio.run(_send_batch(server, room, patient, batch))

    run()

    assert server.alive()
    log = server.log_text()
    assert "Traceback" not in log
    # Hostile frames are the client's fault: refused, never logged as a server failure.
    assert "room frame failed" not in log and " ERROR " not in log
    stored = list(ChatMessage.objects.filter(session=room.session).order_by("seq"))
    assert [m.seq for m in stored] == list(range(1, len(stored) + 1))
    for message in stored:
        assert message.sender_id == patient.pk
        assert 1 <= len(message.text) <= MAX_TEXT
        assert message.text == message.text.strip()
