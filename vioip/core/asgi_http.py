"""Django over ASGI with each request's synchronous part on one thread, in one hop.

Django's own ASGI handler runs the middleware chain in async mode. Every middleware built on
``MiddlewareMixin`` then hops to a thread and back for each of its ``process_*`` methods, a
sync-only middleware hops back to the event loop for the rest of the chain, the view hops
again, and so do the ``request_started`` receivers and the response's close. A request to
``/api/me/sessions/`` made 22 of those hops and started two threads (the request's
``ThreadSensitiveContext`` makes a thread per request): 7.9 to 10.5 ms of CPU in process
against 4.2 ms for the same request through the sync handler (bench/NOTES.md). An HTTP
worker beside the rooms' worker on one core spent that CPU at the rooms' expense.

``HttpHandler`` runs the chain as WSGI does: in sync mode, from ``request_started`` to the
response's close, in one call on one of ``HTTP_CONCURRENCY`` long-lived threads. The event
loop only reads the body and writes the response. A request's database work, its
connection's checkout and its return (``request_started``/``request_finished``) all happen
on that one thread, as Django requires. A file that streams (a static file) is read on that
thread too; an asynchronous stream is closed once sent, on a thread of the same pool.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase, StreamingHttpResponse
from django.urls import get_resolver, set_script_prefix

from vioip.core.loops import PerLoop


class HttpHandler(ASGIHandler):
    """``django.core.asgi.get_asgi_application()``'s handler, each request in one hop."""

    def __init__(self) -> None:
        super().__init__()
        # One pool per event loop (tests run several loops in one process).
        self._pools: PerLoop[ThreadPoolExecutor] = PerLoop(
            lambda loop: ThreadPoolExecutor(
                max_workers=settings.HTTP_CONCURRENCY, thread_name_prefix="http"
            )
        )

    def load_middleware(self, is_async: bool = False) -> None:
        # The chain in sync mode: ``get_response`` runs it all on the calling thread.
        super().load_middleware(is_async=False)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        pool = self._pools.get()
        try:
            # In a copy of the request's context, as sync_to_async would: nothing a request
            # sets in a context variable stays on the thread for the next one.
            context = contextvars.copy_context()
            response, closed = await loop.run_in_executor(
                pool, context.run, self._serve, scope, body_file
            )
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                pass  # the client went away while the response was sent
            finally:
                if not closed:
                    await loop.run_in_executor(pool, context.run, response.close)
        finally:
            body_file.close()

    def _serve(self, scope: Any, body_file: Any) -> tuple[HttpResponseBase, bool]:
        """The request's synchronous part, on one thread: ``request_started``, the
        middleware and the view, and (unless it streams asynchronously) the response's
        close, which sends ``request_finished``. Returns the response and whether it was
        closed."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        response: HttpResponseBase
        if request is None:
            response = cast(HttpResponseBase, error_response)  # one of the two is set
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if isinstance(response, StreamingHttpResponse):
            if response.is_async:
                return response, False  # closed once sent
            # A file (the web client's scripts and styles, through whitenoise): read here,
            # as Django's handler reads a synchronous stream on a thread of its own, and
            # replayed to the event loop.
            chunks = list(cast(Iterator[bytes], response.streaming_content))
            response.streaming_content = _replay(chunks)
        # The body is in memory now; closing sends request_finished here, on the thread
        # whose database connection the request used.
        response.close()
        return response, True


async def _replay(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def get_http_application() -> HttpHandler:
    """Django set up, and its HTTP application (``django.core.asgi.get_asgi_application``'s
    counterpart)."""
    import django

    django.setup(set_prefix=False)
    return HttpHandler()


def load_urlconf() -> None:
    """Import the URLconf, and with it every view, now rather than on the first request.
    Django does it on the first request that needs a URL resolved: that request took 380 ms
    instead of 10 on an idle worker, and the requests behind it queued for a second in the
    bench's first second of REST load (bench/NOTES.md)."""
    get_resolver().url_patterns  # noqa: B018 (the property imports the URLconf)
