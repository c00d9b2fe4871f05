"""A room worker's graceful stop: SIGTERM closes its sockets with 4012, then the process
ends.

Without it, daphne answers SIGTERM by cancelling every connection's task and dropping the
TCP connections: clients see an abnormal closure (1006), and each participant's presence
stays behind, with nobody to release it, until it expires. Here SIGTERM instead:

1. marks the process as draining: a socket that opens from now on is closed with 4012
   before its ticket is redeemed, so the client gets a new ticket and reconnects
   elsewhere;
2. closes every local room socket with 4012 (``server_restarting``): not a leave, the
   grace window keeps each participant's place while the client reconnects to another
   worker and catches up with ``chat.history``;
3. waits up to ``VIOIP_ROOM_DRAIN_SECONDS`` for the sockets' own disconnect handling
   (presence released with grace), then stops the reactor as daphne would have.

A second SIGTERM stops at once. Installed from ``vioip.asgi`` in processes that serve
rooms, and only under daphne (Twisted's reactor): the test suite's in-process servers
keep their own signal handling.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from typing import Any

from django.conf import settings

from sessions_app.rooms import watchdog
from sessions_app.rooms.protocol import CLOSE_LAYER_RESET

logger = logging.getLogger("vioip.rooms")

_draining = False


def draining() -> bool:
    """Whether this process is stopping: new room sockets are turned away."""
    return _draining


async def drain(timeout: float) -> int:
    """Close every local room socket with 4012 and wait (up to ``timeout`` seconds) for
    them to be released; the number still open at the end."""
    global _draining
    _draining = True
    logger.info(
        "room worker stopping: closing %d sockets with %d",
        len(watchdog.local_sockets()),
        CLOSE_LAYER_RESET,
    )
    await watchdog.close_local_sockets()
    deadline = time.monotonic() + timeout
    while watchdog.local_sockets() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    left = len(watchdog.local_sockets())
    if left:
        logger.warning("room worker stopping with %d sockets not yet released", left)
    return left


def install_on_sigterm() -> None:
    """Under daphne, take SIGTERM over from Twisted once the reactor runs."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(_take_sigterm, reactor)  # type: ignore[attr-defined]


def _take_sigterm(reactor: Any) -> None:
    loop = asyncio.get_event_loop()
    stopping: list[asyncio.Task[None]] = []

    async def drain_then_stop() -> None:
        try:
            await drain(float(settings.ROOM_DRAIN_SECONDS))
        finally:
            reactor.stop()

    def begin() -> None:
        if stopping:
            reactor.stop()  # a second SIGTERM: at once
            return
        stopping.append(loop.create_task(drain_then_stop()))

    def on_sigterm(signum: int, frame: Any) -> None:
        # A Python signal handler runs between bytecodes of the main thread; the loop
        # may be waiting in select(): hand the work to it through its wake-up pipe.
        loop.call_soon_threadsafe(begin)

    signal.signal(signal.SIGTERM, on_sigterm)
