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
import weakref
from typing import Any, Protocol

from channels.layers import get_channel_layer
from django.conf import settings

logger = logging.getLogger("vioip.rooms")

# Like 1012 "Service Restart" (daphne sends only 1000 and 3000-4999): reconnect with a new
# ticket, then chat.history.
CLOSE_LAYER_RESET = 4012
# A probe that Redis accepted but that has not come back after this long means the layer
# is deaf. Shorter waits mistook a busy event loop (a late probe) for a deaf layer and
# closed every socket of a process under load; a Redis error still resets at once.
DEAF_AFTER_SECONDS = 10.0


class RoomSocket(Protocol):
    async def close_for_layer_reset(self) -> None: ...


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


async def _probe(layer: Any, channel: str, timeout: float) -> bool:
    token = secrets.token_hex(8)
    try:
        await asyncio.wait_for(layer.send(channel, {"type": "probe", "token": token}), timeout)
        async with asyncio.timeout(DEAF_AFTER_SECONDS):
            while True:
                message = await layer.receive(channel)
                if message.get("token") == token:
                    return True
    except Exception:  # Redis errors, and a probe that never came back
        return False


async def _run(layer: Any) -> None:
    interval = float(settings.ROOM_LAYER_PROBE_SECONDS)
    timeout = max(1.0, interval / 2)
    channel: str | None = None
    while True:
        await asyncio.sleep(interval)
        if not _sockets:
            continue
        try:
            if channel is None:
                channel = str(await asyncio.wait_for(layer.new_channel("probe."), timeout))
            delivered = await _probe(layer, channel, timeout)
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
        for socket in list(_sockets):
            try:
                await socket.close_for_layer_reset()
            except Exception:
                logger.warning("closing a room socket after a layer reset failed")
