"""What one daphne process serves (``VIOIP_PROCESS_ROLE``): HTTP and room sockets apart.

REST requests run Django's sync views on threads that hold the GIL against the event loop;
in one process with live rooms, REST load starved the rooms (REST p99 14 s, room deliveries
lost). Production runs HTTP workers and room workers as separate processes, and the proxy
routes ``/ws/`` to the room workers and the rest to the HTTP workers:

- ``all`` (default, the embedded default): HTTP and WebSockets in one process;
- ``http``: HTTP only; a WebSocket handshake is refused (HTTP 403);
- ``rooms``: WebSockets, and over HTTP only ``/healthz`` and ``/readyz`` (anything else is
  the standard JSON 404), so a misrouted API call cannot load a room worker.
"""

from __future__ import annotations

import json
from typing import Any

ROLES = ("all", "http", "rooms")
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
_NOT_FOUND = json.dumps({"code": "not_found", "detail": "Not found."}).encode()


class HealthOnly:
    """ASGI ``http``: the health probes reach the application, nothing else does."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("path") in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": _NOT_FOUND})


async def refuse_websocket(scope: Any, receive: Any, send: Any) -> None:
    """ASGI ``websocket``: a close before the accept, which the server answers with 403."""
    message = await receive()
    if message.get("type") == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def protocols_for_role(role: str, *, http: Any, websocket: Any) -> dict[str, Any]:
    """The ``ProtocolTypeRouter`` mapping of a process in ``role``."""
    if role == "http":
        return {"http": http, "websocket": refuse_websocket}
    if role == "rooms":
        return {"http": HealthOnly(http), "websocket": websocket}
    return {"http": http, "websocket": websocket}
