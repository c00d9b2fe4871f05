"""Per-process proof that the channel layer still delivers to this process.

The layer is at-most-once and, after Redis restarts, the pub/sub layer can stay connected
for publishing while its subscriptions are gone: sockets stay open but hear nothing more
from their room. Every few seconds this watchdog sends a probe to a channel of its own
through Redis; when a probe does not come back, it resets the layer (dropping every
subscription of this process) and closes every local room socket with 4012, so clients
reconnect, subscribe afresh and catch up with ``chat.history``. Chat itself never depends
on the layer: nothing acknowledged is lost either way.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

from sessions_app.rooms import fanout

logger = logging.getLogger("vioip.rooms")

# A probe that has not come back within this long is late, and a late probe means a deaf
# layer, unless room events kept arriving meanwhile or this process's event loop is itself
# lagging: under load a probe queues behind the room's own traffic, and taking that for
# deafness closed every socket of a busy process (at 10,000 frames/s offered to 2,000
# sockets, the loop-lag test alone still did). A Redis error resets at once.
PROBE_TIMEOUT_SECONDS = 1.0
BUSY_LOOP_LAG_SECONDS = 0.1


class RoomSocket(Protocol):
    async def close_for_restart(self) -> None: ...


_sockets: weakref.WeakSet[Any] = weakref.WeakSet()
# One watchdog per event loop, by the loop's id.
_tasks: dict[int, asyncio.Task[None]] = {}


def _layer_is_shared(layer: Any) -> bool:
    # Only a Redis layer can go deaf; the in-memory layer lives and dies with the process.
    return "redis" in type(layer).__module__


def watch(socket: RoomSocket) -> None:
    """Register a room socket; start this event loop's watchdog on first use."""
    _sockets.add(socket)
    layer = get_channel_layer()
    if layer is None or not _layer_is_shared(layer) or settings.ROOM_LAYER_PROBE_SECONDS <= 0:
        return
    loop = asyncio.get_running_loop()
    task = _tasks.get(id(loop))
    # An id can be reused by a later loop while a closed loop's task still looks pending.
    if task is None or task.done() or task.get_loop() is not loop:
        _tasks[id(loop)] = loop.create_task(_run(layer))


def unwatch(socket: RoomSocket) -> None:
    _sockets.discard(socket)


def local_sockets() -> list[RoomSocket]:
    """The room sockets open in this process (``drain`` closes them on SIGTERM)."""
    return list(_sockets)


async def close_local_sockets() -> None:
    """Close every room socket of this process with 4012 (``close_for_restart``): after a
    layer reset here, on SIGTERM in ``drain``."""
    for socket in local_sockets():
        try:
            await socket.close_for_restart()
        except Exception:
            logger.warning("closing a room socket for a restart failed")


async def _loop_lag() -> float:
    """How long one pass of the event loop takes now (long when it is overloaded)."""
    started = time.monotonic()
    await asyncio.sleep(0)
    return time.monotonic() - started


async def _probe(layer: Any, channel: str, lag: float) -> bool:
    token = secrets.token_hex(8)
    started = time.monotonic()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
            await layer.send(channel, {"type": "probe", "token": token})
            while True:
                message = await layer.receive(channel)
                if message.get("token") == token:
                    return True
    except TimeoutError:
        # Late: deaf, unless room events are still coming or the loop itself is behind.
        if fanout.heard_since(started):
            return True
        return max(lag, await _loop_lag()) > BUSY_LOOP_LAG_SECONDS
    except Exception:  # Redis errors
        return False


async def _run(layer: Any) -> None:
    interval = float(settings.ROOM_LAYER_PROBE_SECONDS)
    channel: str | None = None
    while True:
        started = time.monotonic()
        await asyncio.sleep(interval)
        lag = time.monotonic() - started - interval
        if not _sockets:
            continue
        try:
            if channel is None:
                async with asyncio.timeout(PROBE_TIMEOUT_SECONDS * 5):
                    channel = str(await layer.new_channel("probe."))
            delivered = await _probe(layer, channel, lag)
        except Exception:  # Redis unreachable: subscriptions cannot be trusted either
            delivered = False
        if delivered:
            continue
        logger.warning(
            "room layer stopped delivering: resetting, closing %d sockets", len(_sockets)
        )
        channel = None
        try:
            await layer.flush()
        except Exception:
            logger.warning("room layer reset failed; will retry")
        fanout.reset()
        await close_local_sockets()
