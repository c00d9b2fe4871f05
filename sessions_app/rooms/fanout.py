"""One channel-layer channel per process, not one per socket.

Each process listens on one channel of its own, subscribed to the group of every room
that has a socket here and to the access group (``vioip.core.revocation``), and hands each
event straight to the local sockets it is for. Before, every socket was in its room's
group: an event of a room of twenty woke twenty consumer tasks, each through its own queue,
and left each of them a fresh set of waiting objects (task, future, coroutine) that lived
until the next event, so the cyclic collector's young generation held tens of thousands of
them and its passes took tens of milliseconds (bench/NOTES.md). Sockets had a channel of
their own, a user group and an access group as well: three subscriptions made and undone,
one at a time under the layer's lock, for every socket that came and went, so a storm of
reconnects queued behind them, and daphne cancelling a closing socket cut them short (the
layer logged a traceback for each). Now a socket subscribes to nothing; only the first
socket of a room in a process subscribes to the room's group.

An event for one person of a room (``notify_control`` with a ``user_id``) goes to the room's
group and is handed only to that person's sockets. ``access.changed`` names its users and
is handed to every local socket of theirs, in whatever room, each re-checking on a task of
its own so a database read never holds up the rooms' events.

Order is kept: a room's events reach this process in one channel, in order, and are handed
to each socket in that order.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from typing import Any, Protocol

from channels.layers import get_channel_layer

from vioip.core import revocation
from vioip.core.loops import PerLoop

logger = logging.getLogger("vioip.rooms")


def room_group(session_id: int) -> str:
    """The layer group of a room's events (each process with a socket there is in it)."""
    return f"room.{session_id}"


class RoomSocket(Protocol):
    session_id: int
    # This socket's name in the room's presence and in this process's tables.
    conn: str
    user: Any

    async def room_event(self, event: dict[str, Any]) -> None: ...

    async def access_changed(self, event: dict[str, Any]) -> None: ...


class _Hub:
    """The subscriptions of one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.layer: Any = get_channel_layer()
        self.channel: str | None = None
        self.hears_access = False
        self.rooms: dict[int, dict[str, RoomSocket]] = {}
        self.task: asyncio.Task[None] | None = None
        # Access re-checks under way (a reference keeps each task alive).
        self.checks: set[asyncio.Task[None]] = set()
        # Subscribing and unsubscribing a room take turns, so a room emptied and entered
        # again at the same moment is never left unsubscribed.
        self.lock = asyncio.Lock()

    async def join(self, socket: RoomSocket) -> None:
        sockets = self.rooms.get(socket.session_id)
        if sockets is not None and self.hears_access and self.task is not None:
            sockets[socket.conn] = socket  # the room is subscribed already: no wait
            return
        async with self.lock:
            if self.channel is None:
                self.channel = str(await self.layer.new_channel("rooms."))
            if not self.hears_access:
                await self.layer.group_add(revocation.ACCESS_GROUP, self.channel)
                self.hears_access = True
            sockets = self.rooms.get(socket.session_id)
            if sockets is None:
                await self.layer.group_add(room_group(socket.session_id), self.channel)
                sockets = self.rooms[socket.session_id] = {}
            sockets[socket.conn] = socket
            if self.task is None or self.task.done():
                # A context of its own: not the audit context of the socket that came first.
                self.task = self.loop.create_task(
                    self._run(self.channel), context=contextvars.Context()
                )

    async def leave(self, socket: RoomSocket) -> None:
        sockets = self.rooms.get(socket.session_id)
        if sockets is None or sockets.pop(socket.conn, None) is None or sockets:
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
        self.hears_access = False
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
            if event.get("type") == revocation.EVENT_TYPE:
                self._access_changed(event)
                continue
            sockets = self.rooms.get(event.get("session_id", -1))
            if not sockets:
                continue
            user_id = event.get("user_id")
            for socket in list(sockets.values()):
                if user_id is not None and socket.user.pk != user_id:
                    continue
                try:
                    await socket.room_event(event)
                except Exception as exc:
                    # One socket's failure must not cost the room its other sockets.
                    logger.warning("room event delivery failed error=%s", type(exc).__name__)

    def _access_changed(self, event: dict[str, Any]) -> None:
        user_ids = set(event.get("user_ids") or ())
        for sockets in self.rooms.values():
            for socket in sockets.values():
                if socket.user.pk in user_ids:
                    task = self.loop.create_task(_recheck(socket, event))
                    self.checks.add(task)
                    task.add_done_callback(self.checks.discard)


async def _recheck(socket: RoomSocket, event: dict[str, Any]) -> None:
    try:
        await socket.access_changed(event)
    except Exception as exc:
        # The heartbeat re-checks the socket again within its interval.
        logger.warning("room access re-check failed error=%s", type(exc).__name__)


_hubs: PerLoop[_Hub] = PerLoop(_Hub)
# When this process last received a room event from the layer.
_heard_at = 0.0


def heard_since(moment: float) -> bool:
    """Whether a room event has reached this process since ``moment`` (monotonic): the
    layer is delivering, however late the watchdog's own probe is."""
    return _heard_at >= moment


async def join(socket: RoomSocket) -> None:
    """From now on, hand ``socket`` its room's events and its user's access changes
    (raises if the layer cannot subscribe)."""
    await _hubs.get().join(socket)


async def leave(socket: RoomSocket) -> None:
    await _hubs.get().leave(socket)


def reset() -> None:
    hub = _hubs.existing()
    if hub is not None:
        hub.reset()
