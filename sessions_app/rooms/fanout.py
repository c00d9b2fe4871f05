"""One channel-layer subscription per room per process, not one per socket.

Each process listens on one channel of its own, subscribed to the group of every room
that has a socket here, and hands each room event straight to that room's local sockets.
Before, every socket was in its room's group: an event of a room of twenty woke twenty
consumer tasks, each through its own queue, and left each of them a fresh set of waiting
objects (task, future, coroutine) that lived until the next event, so the cyclic
collector's young generation held tens of thousands of them and its passes took tens of
milliseconds (bench/NOTES.md). Per-person events (``user_group``) still go to the
socket's own channel.

Order is kept: a room's events reach this process in one channel, in order, and are handed
to each socket in that order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from channels.layers import get_channel_layer

from vioip.core.loops import PerLoop

logger = logging.getLogger("vioip.rooms")


def room_group(session_id: int) -> str:
    """The layer group of a room's events (each process with a socket there is in it)."""
    return f"room.{session_id}"


def user_group(session_id: int, user_id: int) -> str:
    """The layer group of one person's events in a room (their sockets are in it)."""
    return f"room.{session_id}.u.{user_id}"


class RoomSocket(Protocol):
    session_id: int
    channel_name: str

    async def room_event(self, event: dict[str, Any]) -> None: ...


class _Hub:
    """The room subscriptions of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer: Any = get_channel_layer()
        self.channel: str | None = None
        self.rooms: dict[int, dict[str, RoomSocket]] = {}
        self.task: asyncio.Task[None] | None = None
        # Subscribing and unsubscribing a room take turns, so a room emptied and entered
        # again at the same moment is never left unsubscribed.
        self.lock = asyncio.Lock()

    async def join(self, socket: RoomSocket) -> None:
        async with self.lock:
            if self.channel is None:
                self.channel = str(await self.layer.new_channel("rooms."))
            sockets = self.rooms.get(socket.session_id)
            if sockets is None:
                await self.layer.group_add(room_group(socket.session_id), self.channel)
                sockets = self.rooms[socket.session_id] = {}
            sockets[socket.channel_name] = socket
            if self.task is None or self.task.done():
                self.task = self.loop.create_task(self._run(self.channel))

    async def leave(self, socket: RoomSocket) -> None:
        sockets = self.rooms.get(socket.session_id)
        if sockets is None or sockets.pop(socket.channel_name, None) is None or sockets:
            return
        async with self.lock:
            if self.rooms.get(socket.session_id) is not sockets or sockets:
                return  # entered again meanwhile
            del self.rooms[socket.session_id]
            if self.channel is not None:
                await self.layer.group_discard(room_group(socket.session_id), self.channel)

    def reset(self) -> None:
        """The layer dropped every subscription of this process (see ``watchdog``)."""
        if self.task is not None:
            self.task.cancel()
        self.task = None
        self.channel = None
        self.rooms = {}

    async def _run(self, channel: str) -> None:
        global _heard_at
        while True:
            try:
                event = await self.layer.receive(channel)
            except Exception as exc:
                # Redis away: the watchdog resets the layer if it stays deaf.
                logger.warning("room events unreadable error=%s", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            _heard_at = time.monotonic()
            sockets = self.rooms.get(event.get("session_id", -1))
            if not sockets:
                continue
            for socket in list(sockets.values()):
                try:
                    await socket.room_event(event)
                except Exception as exc:
                    # One socket's failure must not cost the room its other sockets.
                    logger.warning("room event delivery failed error=%s", type(exc).__name__)


_hubs: PerLoop[_Hub] = PerLoop(_Hub)
# When this process last received a room event from the layer.
_heard_at = 0.0


def heard_since(moment: float) -> bool:
    """Whether a room event has reached this process since ``moment`` (monotonic): the
    layer is delivering, however late the watchdog's own probe is."""
    return _heard_at >= moment


async def join(socket: RoomSocket) -> None:
    """From now on, hand ``socket`` its room's events (raises if the layer cannot
    subscribe)."""
    await _hubs.get().join(socket)


async def leave(socket: RoomSocket) -> None:
    await _hubs.get().leave(socket)


def reset() -> None:
    hub = _hubs.existing()
    if hub is not None:
        hub.reset()
