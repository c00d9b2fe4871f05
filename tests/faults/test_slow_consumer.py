"""A participant whose client stops reading must not hold up the rest of the room."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect

from tests.faults.harness import Daphne, OwnRedis, RoomClient


async def test_a_client_that_never_reads_does_not_stall_the_room(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    room = await sync_to_async(make_room)(3)
    server = start_daphne(
        database_url=test_database_url,
        redis_url=own_redis.url,
        VIOIP_ROOM_CHAT_RATE_MESSAGES="100000",
    )
    assert server.proc is not None
    rss_before = psutil.Process(server.proc.pid).memory_info().rss
    slow_ticket = await sync_to_async(room.ticket)(room.patients[0])
    # max_queue=1 and no reader: the client stops taking frames off the socket.
    slow = await connect(
        f"ws://127.0.0.1:{server.port}/ws/sessions/{room.session.pk}/?ticket={slow_ticket}",
        origin=server.http,
        compression=None,
        ping_interval=None,
        max_queue=1,
    )
    sender, reader = RoomClient(server, room.session.pk), RoomClient(server, room.session.pk)
    await sender.open(await sync_to_async(room.ticket)(room.patients[1]))
    await reader.open(await sync_to_async(room.ticket)(room.patients[2]))

    count = 60
    started = time.monotonic()
    for i in range(count):
        await sender.chat(f"{i:04d} " + "x" * 1990)
    deadline = started + 45
    while len(reader.seen) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)

    assert len(reader.seen) == count, "the room stalled behind a client that does not read"
    assert len(sender.seen) == count
    rss_after = psutil.Process(server.proc.pid).memory_info().rss
    assert rss_after - rss_before < 64 * 2**20
    await sender.close()
    await reader.close()
    slow.transport.abort()


def test_a_client_that_never_reads_is_closed_past_a_documented_buffer_bound() -> None:
    pytest.skip(
        "pending in the rooms: no outbound buffer bound or close code is documented yet "
        "(docs/realtime.md); proving one needs several MB of room traffic, more than the "
        "60 s budget allows at this machine's chat_send rate"
    )
