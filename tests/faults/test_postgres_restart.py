"""PostgreSQL restarted under a live room: sends during the outage get an error, nothing
acknowledged is lost, and the room resumes by itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.faults.harness import Daphne, OwnPostgres, OwnRedis, RoomClient, room_plan, server_env


async def test_chat_during_a_postgres_outage_gets_an_error_and_nothing_is_lost(
    own_postgres: OwnPostgres,
    own_redis: OwnRedis,
    start_daphne: Callable[..., Daphne],
    tmp_path: Path,
) -> None:
    url = own_postgres.url("vioip")
    env = server_env(database_url=url, redis_url=own_redis.url, VIOIP_ROOM_TICKET_SECONDS="600")
    plan = await asyncio.to_thread(
        room_plan, env, tmp_path / "plan.json", participants=2, tickets=3
    )
    room = plan["rooms"][0]
    server = start_daphne(database_url=url, redis_url=own_redis.url)
    alice, bob = RoomClient(server, room["session_id"]), RoomClient(server, room["session_id"])
    await alice.open(room["tickets"][0][0])
    await bob.open(room["tickets"][1][0])
    first = await alice.chat("before the outage")
    await bob.wait_for(lambda f: f.get("client_id") == first, timeout=15)

    await asyncio.to_thread(own_postgres.stop, "immediate")
    start = len(alice.frames)
    during = await alice.chat("during the outage")
    answer = await alice.wait_for(
        lambda f: f["type"] == "error" or f.get("client_id") == during, timeout=20, start=start
    )
    # Not silence and not a lie: the sender is told it failed (or, if it was stored, sees it).
    assert answer["type"] in ("error", "chat.message")

    await asyncio.to_thread(own_postgres.start)
    for client, tickets in ((alice, room["tickets"][0]), (bob, room["tickets"][1])):
        if client.closed:
            await client.open(tickets[1])
    await alice.chat("during the outage", client_id=during)
    after = await alice.chat("after the outage")
    await bob.wait_for(lambda f: f.get("client_id") == after, timeout=20)

    history = await bob.history(after_seq=0)
    ids = [m["client_id"] for m in history]
    assert [m["seq"] for m in history] == list(range(1, len(history) + 1))
    assert ids.count(first) == ids.count(during) == ids.count(after) == 1
    assert server.alive()
    await alice.close()
    await bob.close()
