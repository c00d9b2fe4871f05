"""Room workers restarted one after the other under chat: nothing lost, nothing doubled,
nobody seen to leave (docs/realtime.md, "Stopping a worker")."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from asgiref.sync import sync_to_async

from tests.faults.harness import Daphne, OwnRedis, RoomClient, until

CLOSE_SERVER_RESTARTING = 4012


def _client_ids(client: RoomClient) -> set[str]:
    return {message["client_id"] for message in client.seen.values()}


async def test_a_rolling_restart_of_two_room_workers_under_chat_loses_and_doubles_nothing(
    own_redis: OwnRedis,
    test_database_url: str,
    start_daphne: Callable[..., Daphne],
    make_room: Callable[[int], Any],
) -> None:
    def start() -> Daphne:
        # Chat at the test's pace is not a flood; the grace window outlasts the restarts.
        return start_daphne(
            database_url=test_database_url,
            redis_url=own_redis.url,
            VIOIP_ROOM_CHAT_RATE_MESSAGES="1000",
            VIOIP_ROOM_GRACE_SECONDS="30",
            VIOIP_ROOM_DRAIN_SECONDS="5",
        )

    room = await sync_to_async(make_room)(4)
    first, second = start(), start()
    clients = [RoomClient([first, second][i % 2], room.session.pk) for i in range(4)]
    for client, patient in zip(clients, room.patients, strict=True):
        await client.open(await sync_to_async(room.ticket)(patient))

    live = {"server": second}
    sent: list[list[str]] = [[] for _ in clients]
    closes: list[int | None] = []
    stop = asyncio.Event()

    async def talk(index: int) -> None:
        client, patient = clients[index], room.patients[index]
        while not stop.is_set():
            if client.closed:
                closes.append(client.close_code)
                client.server = live["server"]
                await client.open(await sync_to_async(room.ticket)(patient))
                # What it sent and never saw stored goes again, under the same id.
                for client_id in sent[index]:
                    if client_id not in _client_ids(client):
                        await client.chat(f"again {client_id}", client_id=client_id)
            client_id = str(uuid.uuid4())
            sent[index].append(client_id)
            # Closed under it: sent again after the reconnect.
            with contextlib.suppress(websockets.ConnectionClosed):
                await client.chat(f"message {client_id}", client_id=client_id)
            await asyncio.sleep(0.05)

    talkers = [asyncio.get_running_loop().create_task(talk(i)) for i in range(len(clients))]
    await asyncio.sleep(1.5)

    async def terminate(server: Daphne) -> str:
        """SIGTERM, as an orchestrator stops a worker; its log once it has exited cleanly."""
        proc = server.proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        assert await until(lambda: proc.poll() is not None, 20)
        log = server.log_text()
        assert proc.returncode == 0, log[-2000:]
        return log

    # Restart the first worker: its clients move to the second.
    first_log = await terminate(first)
    replacement = start()
    live["server"] = replacement
    await asyncio.sleep(1.5)

    # Then the second: everyone moves to the replacement of the first.
    second_log = await terminate(second)
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*talkers)

    # Every move was a restart close, never a drop (1006) or a refusal: the two clients of
    # the first worker, then all four from the second.
    assert len(closes) == 6, closes
    assert set(closes) == {CLOSE_SERVER_RESTARTING}, closes
    assert all(client.server is replacement for client in clients)

    # Whatever a client did not see stored is sent again, then everyone catches up.
    for index, client in enumerate(clients):
        for client_id in sent[index]:
            if client_id not in _client_ids(client):
                await client.chat(f"again {client_id}", client_id=client_id)
    expected = {client_id for ids in sent for client_id in ids}
    # Each sender hears its own messages stored; what others missed while they moved comes
    # with chat.history from the last seq each has in order.
    for index, client in enumerate(clients):
        await until(lambda c=client, mine=set(sent[index]): _client_ids(c) >= mine, 10)
    for client in clients:
        have = 0
        while have + 1 in client.seen:
            have += 1
        await client.history(after_seq=have)

    for client in clients:
        history = await client.history(after_seq=0)
        seqs = [message["seq"] for message in history]
        assert seqs == list(range(1, len(history) + 1)), "gaps or duplicates in seq"
        ids = [message["client_id"] for message in history]
        assert len(ids) == len(set(ids)), "a message was stored twice"
        assert set(ids) == expected, "a message was lost"

    # Nobody was seen to leave: each reconnected inside the grace window.
    left = [f for c in clients for f in c.frames if f["type"] == "presence.left"]
    assert left == []
    observer = RoomClient(replacement, room.session.pk)
    state = await observer.open(await sync_to_async(room.ticket)(room.facilitator))
    assert {p["user_id"] for p in state["participants"]} >= {p.pk for p in room.patients}

    for log in (first_log, second_log):
        assert "Traceback" not in log, log[-2000:]
    for client in [*clients, observer]:
        await client.close()
