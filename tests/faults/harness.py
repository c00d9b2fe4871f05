"""Servers the fault tests start and stop themselves, and a room client.

Nothing here touches the machine's shared services: Redis is a ``redis-server`` on a free
port, PostgreSQL a cluster made with ``initdb`` in a temporary folder, and vioip runs as
real daphne processes pointed at them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[2]
# Close codes documented in docs/realtime.md; anything else (1011 above all) is a failure.
DOCUMENTED_CLOSES = {1000, 1001, 4008, 4012, 4013, 4401, 4403, 4408, 4410, 4423}


async def until(predicate: Any, timeout: float) -> bool:
    """Whether ``predicate()`` came true within ``timeout`` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {port}")


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class OwnRedis:
    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="vioip-faults-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", self.dir]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin(name: str) -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(found[-1]) if found else shutil.which(name)


class OwnPostgres:
    """A throwaway PostgreSQL cluster (initdb in a temporary folder, trust auth, loopback)."""

    def __init__(self, *, settings: tuple[str, ...] = ()) -> None:
        self.port = free_port()
        # Server settings, e.g. "max_connections=20".
        self.settings = settings
        self.dir = Path(tempfile.mkdtemp(prefix="vioip-faults-pg-"))
        self.data = self.dir / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    @staticmethod
    def available() -> bool:
        return _pg_bin("initdb") is not None and _pg_bin("pg_ctl") is not None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run([*self.as_user, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(str(_pg_bin("initdb")), "-D", str(self.data), "-U", "postgres", "-A", "trust")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += "".join(f" -c {setting}" for setting in self.settings)
        self._run(
            str(_pg_bin("pg_ctl")),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.dir / "log"),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(_pg_bin("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "stop")

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def server_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vioip.settings",
            "VIOIP_DEBUG": "0",
            "VIOIP_SSL_REDIRECT": "0",
            "VIOIP_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "VIOIP_LOG_LEVEL": "WARNING",
            # Probe the channel layer every second, so an outage is noticed while it lasts.
            "VIOIP_ROOM_LAYER_PROBE_SECONDS": "1",
            **extra,
        }
    )
    return env


def room_plan(env: dict[str, str], out: Path, *, participants: int, tickets: int) -> dict[str, Any]:
    """One room made by ``bench.vioip_setup`` in ``env``'s database: its session, one-time
    tickets per participant, and a bearer token for the API (``rest_token``)."""
    command = [sys.executable, "-m", "bench.vioip_setup", "--rooms", "1"]
    command += ["--participants", str(participants), "--tickets", str(tickets), "--out", str(out)]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=60, capture_output=True)
    return dict(json.loads(out.read_text()))


class Daphne:
    """One vioip daphne process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.env = env
        self.log = Path(tempfile.mkstemp(prefix="vioip-faults-daphne-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "vioip.server", "-b", "127.0.0.1", "-p", str(self.port)]
        command += ["-v", "0", "vioip.asgi:application"]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, 60)
        # The first request imports the URLconf on the event loop; pay for it now.
        self.get("/healthz", timeout=60)

    def get(self, path: str, timeout: float = 10, token: str | None = None) -> int:
        """The status of a GET of ``path``, as the bearer of ``token`` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        # Always http://127.0.0.1: a server this module started.
        request = urllib.request.Request(f"{self.http}{path}", headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
                return int(reply.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        _stop(self.proc)
        self.log.unlink(missing_ok=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class RoomClient:
    """A participant's socket: keeps every frame, and what chat it has seen by seq."""

    server: Daphne
    session_id: int
    ws: ClientConnection | None = None
    frames: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[int, dict[str, Any]] = field(default_factory=dict)
    close_code: int | None = None
    reader: asyncio.Task[None] | None = None

    async def open(self, ticket: str) -> dict[str, Any]:
        url = f"ws://127.0.0.1:{self.server.port}/ws/sessions/{self.session_id}/?ticket={ticket}"
        self.ws = await connect(
            url, origin=self.server.http, compression=None, ping_interval=None, open_timeout=20
        )
        self.close_code = None
        self.reader = asyncio.get_running_loop().create_task(self._read())
        return await self.wait_for(lambda f: f["type"] == "room.state", timeout=20)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                if frame.get("type") == "chat.message":
                    self.seen[frame["seq"]] = frame
                elif frame.get("type") == "chat.history":
                    for message in frame["messages"]:
                        self.seen[message["seq"]] = message
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code

    @property
    def closed(self) -> bool:
        return self.reader is None or self.reader.done()

    async def wait_for(self, match: Any, timeout: float = 10, start: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in self.frames[start:]:
                if match(frame):
                    return frame
            if self.closed:
                raise ConnectionError(f"closed with {self.close_code}")
            await asyncio.sleep(0.02)
        raise TimeoutError("no matching frame")

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def chat(self, text: str, client_id: str | None = None) -> str:
        client_id = client_id or str(uuid.uuid4())
        await self.send({"type": "chat.send", "client_id": client_id, "text": text})
        return client_id

    async def history(self, after_seq: int = 0, timeout: float = 10) -> list[dict[str, Any]]:
        start = len(self.frames)
        await self.send({"type": "chat.history", "after_seq": after_seq})
        frame = await self.wait_for(lambda f: f["type"] == "chat.history", timeout, start)
        return list(frame["messages"])

    async def ping(self, ref: str, timeout: float = 10) -> None:
        start = len(self.frames)
        await self.send({"type": "ping", "ref": ref})
        await self.wait_for(lambda f: f["type"] == "pong", timeout, start)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader
