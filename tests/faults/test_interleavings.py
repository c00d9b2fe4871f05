"""Random interleavings of sends, resends with the same client_id, disconnects and
reconnects, across two daphne processes sharing one room: after catch-up every member has
every acknowledged message exactly once, in seq order."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.faults.harness import Daphne, OwnRedis, RoomClient

MEMBERS = 3
steps = st.lists(
    st.tuples(
        st.sampled_from(["send", "resend", "drop", "reconnect"]),
        st.integers(min_value=0, max_value=MEMBERS - 1),
    ),
    min_size=1,
    max_size=12,
)


async def _play(servers: list[Daphne], room: Any, plan: list[tuple[str, int]]) -> None:
    from asgiref.sync import sync_to_async

    ticket = sync_to_async(room.ticket)
    clients = [RoomClient(servers[i % 2], room.session.pk) for i in range(MEMBERS)]
    for client, patient in zip(clients, room.patients, strict=True):
        await client.open(await ticket(patient))
    sent: dict[int, list[str]] = {i: [] for i in range(MEMBERS)}
    for action, who in plan:
        client = clients[who]
        if action == "drop" and not client.closed:
            await client.close()
        elif action == "reconnect" and client.closed:
            await client.open(await ticket(room.patients[who]))
        elif action == "send" and not client.closed:
            sent[who].append(await client.chat(f"m{uuid.uuid4().hex[:8]}"))
        elif action == "resend" and not client.closed and sent[who]:
            await client.chat("again", client_id=sent[who][-1])
    for who, client in enumerate(clients):
        if client.closed:
            await client.open(await ticket(room.patients[who]))
        # Every frame sent before this ping has been handled by the time it answers.
        await client.ping("sync", timeout=20)
    # Acknowledged: the sender saw its own message come back from the room.
    acknowledged = {
        f["client_id"]
        for who, client in enumerate(clients)
        for f in client.frames
        if f["type"] == "chat.message" and f["client_id"] in sent[who]
    }
    for client in clients:
        history = await client.history(after_seq=0)
        ids = [m["client_id"] for m in history]
        assert len(ids) == len(set(ids)), "a message is stored twice"
        assert acknowledged <= set(ids), "an acknowledged message is missing"
        seqs = [m["seq"] for m in history]
        assert seqs == sorted(seqs)
        await client.close()


def test_every_member_sees_every_acknowledged_message_once_after_catch_up(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    servers = [
        start_daphne(
            database_url=test_database_url,
            redis_url=own_redis.url,
            VIOIP_ROOM_CHAT_RATE_MESSAGES="100000",
        )
        for _ in range(2)
    ]

    @settings(
        max_examples=6,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(plan=steps)
    def run(plan: list[tuple[str, int]]) -> None:
        room = make_room(MEMBERS)
        asyncio.run(_play(servers, room, plan))

    run()
