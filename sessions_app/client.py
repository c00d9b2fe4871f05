"""Join a session's live room from a terminal.

    python -m sessions_app.client --url http://127.0.0.1:8000 \\
        --username alex --password demo-vioip-2026 [--session ID]

Logs in, gets a one-time ticket, connects with an Origin header, prints every frame, and
sends each typed line as chat. Lines starting with ``/`` send other frames (``/help``).
Needs only the standard library and ``websockets``; no Django.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import getpass
import json
import sys
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import urlsplit

COMMANDS = {
    "/hand": ("hand.raise", None),
    "/lower": ("hand.lower", None),
    "/ping": ("ping", None),
    "/history": ("chat.history", "after_seq"),
    "/admit": ("waiting.admit", "user_id"),
    "/mute": ("participant.mute", "user_id"),
    "/unmute": ("participant.unmute", "user_id"),
    "/remove": ("participant.remove", "user_id"),
    "/stepout": ("participant.step_out", "user_id"),
    "/lock": ("room.lock", None),
    "/unlock": ("room.unlock", None),
    "/delete": ("chat.delete", "seq"),
    "/end": ("session.end", None),
}

# Local servers are reached directly, whatever proxy the environment names.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _request(url: str, *, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    method = "POST" if body is not None or url.endswith("/ticket/") else "GET"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    with _http.open(request, timeout=15) as response:
        return json.loads(response.read() or b"null")


def frame_for(line: str) -> dict[str, Any] | None:
    """The frame a typed line stands for; None for an unknown command."""
    if not line.startswith("/"):
        return {"type": "chat.send", "client_id": str(uuid.uuid4()), "text": line}
    name, _, argument = line.partition(" ")
    if name not in COMMANDS:
        return None
    frame_type, field = COMMANDS[name]
    frame: dict[str, Any] = {"type": frame_type}
    if field is not None:
        try:
            frame[field] = int(argument.strip() or "0")
        except ValueError:
            return None
    return frame


def pick_session(base: str, token: str) -> int:
    """The first of the caller's sessions that is live or opens within 15 minutes."""
    body = _request(f"{base}/api/me/sessions/", token=token)
    sessions = body.get("results", body) if isinstance(body, dict) else body
    now = dt.datetime.now(dt.UTC)
    for session in sessions or []:
        starts = dt.datetime.fromisoformat(session["starts_at"].replace("Z", "+00:00"))
        ends = dt.datetime.fromisoformat(session["ends_at"].replace("Z", "+00:00"))
        if session.get("status") in ("scheduled", "live") and (
            starts - dt.timedelta(minutes=15) <= now <= ends
        ):
            return int(session["id"])
    raise SystemExit("No session of yours is open now; pass --session ID.")


def show(frame: dict[str, Any]) -> None:
    kind = frame.get("type")
    if kind == "chat.message":
        text = frame["text"] if not frame.get("deleted") else "(deleted)"
        print(f"[{frame['seq']}] {frame['sender']['display_name']}: {text}")
    else:
        print(json.dumps(frame, indent=None))
    waiting: list[dict[str, Any]] = []
    if kind == "room.state":
        if frame["me"]["state"] == "waiting":
            print("You are in the waiting room: a facilitator will admit you.")
        waiting = [p for p in frame.get("participants", []) if p["state"] == "waiting"]
    elif kind == "presence.joined" and frame["participant"]["state"] == "waiting":
        waiting = [frame["participant"]]
    for participant in waiting:
        print(f"{participant['display_name']} is waiting: /admit {participant['user_id']}")


async def run(base: str, token: str, session_id: int) -> int:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ticket = _request(f"{base}/api/sessions/{session_id}/ticket/", token=token)["ticket"]
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    origin = f"{parts.scheme}://{parts.netloc}"
    url = f"{scheme}://{parts.netloc}/ws/sessions/{session_id}/?ticket={ticket}"
    async with connect(url, origin=origin, proxy=None) as ws:  # type: ignore[arg-type]
        print(f"Connected to session {session_id}. Type to chat, /help for commands.")
        pong = asyncio.Event()

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for text in ws:
                    frame = json.loads(text)
                    if frame.get("type") == "pong" and frame.get("ref") == "quit":
                        pong.set()
                        continue
                    show(frame)

        async def drain_and_close() -> None:
            # Frames are answered in order: once our ping's pong is back, every earlier
            # line has been answered and printed.
            with contextlib.suppress(ConnectionClosed, TimeoutError):
                await ws.send(json.dumps({"type": "ping", "ref": "quit"}))
                await asyncio.wait_for(pong.wait(), timeout=5)
            await ws.close()

        lines: asyncio.Queue[str] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read_stdin() -> None:
            # A daemon thread: a server-side close must not wait for the user's Enter.
            for typed in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, typed)
            loop.call_soon_threadsafe(lines.put_nowait, "")

        threading.Thread(target=read_stdin, daemon=True).start()

        async def write() -> None:
            while True:
                line = await lines.get()
                if not line or line.strip() == "/quit":
                    await drain_and_close()
                    return
                line = line.strip()
                if not line:
                    continue
                if line == "/help":
                    print("commands: " + " ".join([*COMMANDS, "/quit"]))
                    continue
                frame = frame_for(line)
                if frame is None:
                    print("unknown command; /help lists them")
                    continue
                await ws.send(json.dumps(frame))

        reader = asyncio.create_task(read())
        writer = asyncio.create_task(write())
        await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        for task in (reader, writer):
            task.cancel()
        code = ws.close_code
        print(f"Closed ({code}).")
        return 0 if code in (None, 1000, 1001) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Join a vioip session room from a terminal.")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="server base URL")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", help="prompted for when omitted")
    parser.add_argument("--session", type=int, help="session id (default: the one open now)")
    args = parser.parse_args(argv)
    base = args.url.rstrip("/")
    password = args.password or getpass.getpass()
    try:
        login = _request(
            f"{base}/api/auth/login/", body={"username": args.username, "password": password}
        )
        token = login["token"]
        session_id = args.session or pick_session(base, token)
        return asyncio.run(run(base, token, session_id))
    except urllib.error.HTTPError as exc:
        print(f"{exc.code} from {exc.url}: {exc.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(f"Cannot reach {base}: {exc.reason}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
