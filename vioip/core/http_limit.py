"""At most ``HTTP_CONCURRENCY`` HTTP requests of a process run at once; the others wait.

Django's own ASGI handler ran every request on a thread of its own, and each of those
threads opened a database connection of its own: sixty requests at once on one daphne
process held about ninety PostgreSQL connections, and PostgreSQL refused the rest ("too
many clients", answered 500). Requests now run on a pool of this many threads
(``vioip.core.asgi_http``); the limit also keeps a burst from reading more bodies than
there are threads to serve them. A waiting request costs one coroutine on the event loop,
so a burst becomes a short queue instead of errors, and a process holds at most this many
connections for HTTP (plus its room threads). WebSockets are not limited here.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings

from vioip.core.loops import PerLoop


class ConcurrencyLimit:
    """ASGI middleware for the ``http`` protocol."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # A semaphore belongs to the loop it first waits on.
        self._semaphores: PerLoop[asyncio.Semaphore] = PerLoop(
            lambda loop: asyncio.Semaphore(settings.HTTP_CONCURRENCY)
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async with self._semaphores.get():
            await self.app(scope, receive, send)
