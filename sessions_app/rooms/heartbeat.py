"""One heartbeat per process for all of its room sockets.

Each socket's presence expires unless it is pushed forward (see ``presence``). Instead of
one task and one database call per socket (at a few thousand sockets that was a hundred
calls a second on the process's one database thread), one task per event loop beats every
local socket: the rooms are split into one slice per second, and each slice costs one
Redis pipeline and one database call whatever the number of sockets in it. The beat also
re-checks every socket's access in bulk: the backstop for a lost ``access.changed``. Each room is
beaten once per ``presence.beat_interval()`` (a sixth of ``ROOM_PRESENCE_TTL_SECONDS``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from sessions_app.rooms import collector, liveness, notify, presence, threads
from vioip.core.loops import PerLoop

logger = logging.getLogger("vioip.rooms")


class BeatingSocket(Protocol):
    session_id: int
    user: Any
    token_id: int | None
    conn: str

    async def heartbeat_result(self, beat: liveness.Heartbeat) -> None: ...


class _Beater:
    """The heartbeat of one event loop: runs while it has sockets."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[str, BeatingSocket] = {}
        self.task: asyncio.Task[None] | None = None
        self.tick = 0

    def ensure_running(self) -> None:
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        while self.sockets:
            interval = presence.beat_interval()
            slices = max(1, int(interval))
            await asyncio.sleep(interval / slices)
            self.tick += 1
            collector.tick()
            due = [s for s in self.sockets.values() if s.session_id % slices == self.tick % slices]
            if due:
                await self._beat(due)

    async def _beat(self, due: list[BeatingSocket]) -> None:
        live = [liveness.LiveSocket(s.session_id, s.user, s.conn, s.token_id) for s in due]
        try:
            # Off the room threads: a beat of a few hundred sockets holds its thread for
            # tens of milliseconds, and chat waited behind it (bench/NOTES.md).
            beats = await threads.entry_db(liveness.rooms_heartbeat)(sockets=live)
        except notify.BroadcastFailed as failed:
            beats = failed.result
        except Exception as exc:
            # One line, no traceback: tracebacks can carry frame locals with PHI.
            logger.error("room heartbeat failed sockets=%d error=%s", len(due), type(exc).__name__)
            return
        for socket in due:
            beat = beats.get(socket.conn)
            if beat is None or self.sockets.get(socket.conn) is not socket:
                continue  # closed meanwhile
            try:
                await socket.heartbeat_result(beat)
            except Exception as exc:
                logger.warning("room heartbeat result failed error=%s", type(exc).__name__)


_beaters: PerLoop[_Beater] = PerLoop(_Beater)


def join(socket: BeatingSocket) -> None:
    """Beat ``socket`` from now on (its entry has just made it present)."""
    beater = _beaters.get()
    beater.sockets[socket.conn] = socket
    beater.ensure_running()
    collector.socket_joined()


def leave(socket: BeatingSocket) -> None:
    beater = _beaters.existing()
    if beater is not None:
        if beater.sockets.pop(socket.conn, None) is not None:
            collector.socket_closed()
        if not beater.sockets and beater.task is not None and not beater.task.done():
            beater.task.cancel()
            beater.task = None
