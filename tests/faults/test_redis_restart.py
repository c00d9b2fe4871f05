"""Redis restarted under a live room shared by two daphne processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async

from tests.faults.harness import DOCUMENTED_CLOSES, Daphne, OwnRedis, RoomClient, until


async def _restart_redis_under_a_room(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
    allowed_closes: set[int],
) -> None:
    room = await sync_to_async(make_room)(4)
    servers = [
        start_daphne(database_url=test_database_url, redis_url=own_redis.url) for _ in range(2)
    ]
    clients = [RoomClient(servers[i % 2], room.session.pk) for i in range(4)]
    for client, patient in zip(clients, room.patients, strict=True):
        await client.open(await sync_to_async(room.ticket)(patient))

    before = [await c.chat(f"before {i}") for i, c in enumerate(clients)]
    assert await until(lambda: all(len(c.seen) == 4 for c in clients), 15)

    own_redis.stop()
    assert servers[0].get("/readyz") == 503
    during = {}
    for i, client in enumerate(clients):
        if not client.closed:
            during[i] = await client.chat(f"during {i}")
    await asyncio.sleep(2)

    own_redis.start()
    assert await until(lambda: all(s.get("/readyz") == 200 for s in servers), 15)
    for client, patient in zip(clients, room.patients, strict=True):
        if client.closed:
            assert client.close_code in allowed_closes, client.close_code
            await client.open(await sync_to_async(room.ticket)(patient))
    # A client that never saw its message acknowledged sends it again with the same id.
    for i, client_id in during.items():
        await clients[i].chat(f"during {i}", client_id=client_id)
    after = [await c.chat(f"after {i}") for i, c in enumerate(clients)]
    expected = 4 + len(during) + len(after)
    await until(lambda: all(len(c.seen) >= expected for c in clients), 15)
    # The layer is at-most-once: a broadcast published while a process's subscriber was
    # still reconnecting is gone. A client that sees a gap in seq asks chat.history from
    # the last seq it has (docs/realtime.md), and then has everything.
    for client in clients:
        have = 0
        while have + 1 in client.seen:
            have += 1
        if have < expected:
            await client.history(after_seq=have)
    errors = [f for c in clients for f in c.frames if f["type"] == "error"]
    assert all(len(c.seen) >= expected for c in clients), (
        f"seen {[len(c.seen) for c in clients]}, errors {errors}"
    )

    expected_ids = set(before) | set(during.values()) | set(after)
    for client in clients:
        history = await client.history(after_seq=0)
        seqs = [m["seq"] for m in history]
        assert seqs == list(range(1, len(history) + 1)), "gaps or duplicates in seq"
        ids = [m["client_id"] for m in history]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        assert set(ids) == expected_ids
    # Presence is rebuilt: a fresh socket sees everyone in the room.
    late = RoomClient(servers[1], room.session.pk)
    state = await late.open(await sync_to_async(room.ticket)(room.facilitator))
    assert {p["user_id"] for p in state["participants"]} >= {p.pk for p in room.patients}
    assert all(s.alive() for s in servers), "a server had to be restarted"
    for client in [*clients, late]:
        await client.close()


async def test_room_recovers_every_acknowledged_message_after_redis_restarts(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    await _restart_redis_under_a_room(
        own_redis, test_database_url, start_daphne, make_room, DOCUMENTED_CLOSES
    )


async def test_redis_outage_closes_sockets_only_with_documented_codes(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    await _restart_redis_under_a_room(
        own_redis, test_database_url, start_daphne, make_room, DOCUMENTED_CLOSES
    )
