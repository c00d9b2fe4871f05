"""``python -m vioip.server``, the server the workers run (daphne with its timeout pass
spread over the round): every idle socket still gets its keepalive pings, and a peer that
stops answering them is still dropped."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.rooms.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SOCKETS = 12  # more than the pass has slices: every slice holds some


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    command = [sys.executable, "-m", "vioip.server", "-b", "127.0.0.1", "-p", str(port)]
    command += ["--ping-interval", "1", "--ping-timeout", "2"]
    command += ["tests.core.quiet_sockets_app:application"]
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _silent_socket(port: int) -> socket.socket:
    """A WebSocket that completes its handshake and then never reads or answers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    sock.settimeout(0.2)
    received = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def test_idle_sockets_are_pinged_and_a_peer_that_never_answers_is_dropped(server: int):
    with contextlib.ExitStack() as stack:
        answering = [
            stack.enter_context(
                connect(f"ws://127.0.0.1:{server}/", ping_interval=None, open_timeout=10)
            )
            for _ in range(SOCKETS)
        ]
        silent = [stack.enter_context(_silent_socket(server)) for _ in range(SOCKETS)]

        # Pinged after one second idle, dropped two seconds after an unanswered ping; the
        # pass reaches every socket within two seconds.
        for sock in silent:
            received, closed = _read_until_closed(sock, seconds=10)
            assert received[:1] == b"\x89", "a keepalive ping came first"
            assert closed, "a peer that never answers is dropped"

        # The sockets that answer their pings (the client does it for them) are all open.
        for client in answering:
            with pytest.raises(TimeoutError):
                client.recv(timeout=0.05)
