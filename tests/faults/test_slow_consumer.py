"""A participant whose client stops reading must not hold up the rest of the room."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import psutil
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


async def test_a_client_that_never_reads_is_dropped_past_the_buffer_bound_and_recovers(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    room = await sync_to_async(make_room)(3)
    bound_kib = 512  # above the largest single frame (256 KiB of chat)
    server = start_daphne(
        database_url=test_database_url,
        redis_url=own_redis.url,
        VIOIP_ROOM_CHAT_RATE_MESSAGES="100000",
        VIOIP_ROOM_SEND_BUFFER_KIB=str(bound_kib),
        VIOIP_ROOM_GRACE_SECONDS="1",
    )
    assert server.proc is not None
    slow_patient = room.patients[0]
    # A small receive buffer, no reader and a one-frame queue: the bytes pile up on the
    # server instead of in the kernel.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
    sock.connect(("127.0.0.1", server.port))
    slow = await connect(
        f"ws://127.0.0.1:{server.port}/ws/sessions/{room.session.pk}/"
        f"?ticket={await sync_to_async(room.ticket)(slow_patient)}",
        sock=sock,
        origin=server.http,
        compression=None,
        ping_interval=None,
        max_queue=1,
    )
    sender, reader = RoomClient(server, room.session.pk), RoomClient(server, room.session.pk)
    await sender.open(await sync_to_async(room.ticket)(room.patients[1]))
    await reader.open(await sync_to_async(room.ticket)(room.patients[2]))
    rss_before = psutil.Process(server.proc.pid).memory_info().rss

    # Each message goes out as about 8 KB (emoji in UTF-8): 6.4 MB in all, past what the
    # kernel's socket buffers (4 MB here) hold before the server's own buffer grows.
    count = 800
    assert sender.ws is not None
    for i in range(count):
        text = f"{i:04d} " + "\N{GRINNING FACE}" * 1990  # 8 KB as the client's UTF-8
        frame = {"type": "chat.send", "client_id": str(uuid.uuid4()), "text": text}
        await sender.ws.send(json.dumps(frame, ensure_ascii=False))
    deadline = time.monotonic() + 120
    while len(reader.seen) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(reader.seen) == count, "the room stalled behind a client that does not read"

    # The server dropped the slow socket: after the grace window the room sees them leave.
    left = await reader.wait_for(
        lambda f: f["type"] == "presence.left" and f["user_id"] == slow_patient.pk, timeout=30
    )
    assert left
    assert "room socket not reading" in server.log_text()
    assert "Traceback" not in server.log_text()
    rss_after = psutil.Process(server.proc.pid).memory_info().rss
    assert rss_after - rss_before < 32 * 2**20

    # The patient comes back and catches up with every message from history.
    slow.transport.abort()
    back = RoomClient(server, room.session.pk)
    await back.open(await sync_to_async(room.ticket)(slow_patient))
    history: list[dict[str, Any]] = []
    while len(history) < count:
        page = await back.history(after_seq=history[-1]["seq"] if history else 0)
        assert page, "history ended early"
        history += page
    assert [m["seq"] for m in history] == list(range(1, count + 1))
    for client in (sender, reader, back):
        await client.close()
