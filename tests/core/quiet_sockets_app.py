"""An ASGI app that accepts every WebSocket and says nothing: what the server itself does
to idle sockets (keepalive pings, ping timeouts) is all that happens on them."""

from __future__ import annotations

from typing import Any


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.disconnect":
            return
