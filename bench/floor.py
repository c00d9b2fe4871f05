"""The floor: a bare ``websockets`` server on uvloop that broadcasts each text frame to its room.

Rooms are the URL path (``/room/<name>/``). A join broadcasts a small presence frame, as the
other stacks do, so connect rates compare like for like. Nothing is parsed or stored: this
is the practical limit of one Python process.

    python -m bench.floor --port 8701
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import signal
from collections import defaultdict

import uvloop
import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(connection: ServerConnection) -> None:
    room = connection.request.path if connection.request else "/"
    members = rooms[room]
    members.add(connection)
    broadcast(members, '{"type":"presence.joined"}')
    try:
        async for frame in connection:
            if isinstance(frame, str):
                broadcast(members, frame)
    except websockets.ConnectionClosed:
        pass
    finally:
        members.discard(connection)
        if not members:
            rooms.pop(room, None)


async def main(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    # No permessage-deflate: daphne does not negotiate it either, and it triples memory.
    async with serve(handler, host, port, compression=None, max_queue=None, backlog=4096):
        gc.freeze()
        await stop


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(main(args.host, args.port))
