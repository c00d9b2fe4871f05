"""The compose file's workers, started with its own environment: their healthchecks pass,
the host and HTTPS checks still hold for everything else, and each worker serves only its
part (web: HTTP; rooms: WebSockets and its probes).

Real daphne processes on this test's database (SQLite on the embedded default; PostgreSQL
and Redis when ``DATABASE_URL``/``REDIS_URL`` are set)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.deploy import compose
from tests.rooms.servers import Daphne, current_database_url, free_port

pytestmark = pytest.mark.django_db(transaction=True)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


plain = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - a local daphne
    try:
        with plain.open(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def compose_file() -> dict[str, Any]:
    return compose.load()


def _worker(compose_file: dict[str, Any], service: str, tmp_path: Path) -> Daphne:
    env = compose.service_env(
        compose_file,
        service,
        database_url=current_database_url(),
        redis_url=os.environ.get("REDIS_URL") or None,
    )
    daphne = Daphne(free_port(), env, tmp_path / f"{service}.log")
    daphne.wait_ready()
    return daphne


@pytest.fixture
def web(compose_file: dict[str, Any], tmp_path: Path) -> Iterator[Daphne]:
    daphne = _worker(compose_file, "web", tmp_path)
    yield daphne
    daphne.stop()


@pytest.fixture
def rooms(compose_file: dict[str, Any], tmp_path: Path) -> Iterator[Daphne]:
    daphne = _worker(compose_file, "rooms", tmp_path)
    yield daphne
    daphne.stop()


def _healthcheck(compose_file: dict[str, Any], service: str, port: int) -> int:
    """Runs the service's compose healthcheck command against a worker on ``port``."""
    test = compose_file["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", test
    command = [sys.executable, *[part.replace(":8000/", f":{port}/") for part in test[2:]]]
    return subprocess.run(command, timeout=30, check=False).returncode


def _ws_handshake(port: int, path: str = "/ws/sessions/1/?ticket=nope") -> int | None:
    """The close code of a socket opened on ``path`` (None if it stayed open); raises
    InvalidStatus when the handshake itself is refused."""

    async def run() -> int | None:
        async with connect(
            f"ws://localhost:{port}{path}",
            origin="http://localhost",  # type: ignore[arg-type]
            proxy=None,
            open_timeout=10,
        ) as ws:
            try:
                await asyncio.wait_for(ws.recv(), timeout=10)
            except ConnectionClosed:
                return ws.close_code
            return None

    return asyncio.run(run())


def test_the_web_healthcheck_passes_under_the_compose_settings(compose_file, web):
    assert _healthcheck(compose_file, "web", web.port) == 0
    status, _, body = _get(f"{web.http}/readyz")
    assert status == 200 and json.loads(body)["status"] == "ready"
    assert _get(f"{web.http}/healthz")[0] == 200


def test_the_web_worker_keeps_the_host_and_https_checks_for_everything_else(web):
    # An address that is not an allowed host: refused, as before.
    assert _get(f"{web.http}/api/auth/me/")[0] == 400
    # An allowed host over plain HTTP, not through the proxy: sent to HTTPS.
    status, headers, _ = _get(f"{web.http}/api/auth/me/", Host="localhost")
    assert status == 301 and headers["Location"] == "https://localhost/api/auth/me/"
    # Only GET and HEAD of the two probes skip the checks.
    request = urllib.request.Request(f"{web.http}/readyz", method="POST", data=b"")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as refused:
        plain.open(request, timeout=10)
    assert refused.value.code == 400


def test_the_web_worker_refuses_websockets(web):
    with pytest.raises(InvalidStatus) as refused:
        _ws_handshake(web.port)
    assert refused.value.response.status_code == 403


def test_the_rooms_healthcheck_passes_and_it_serves_sockets_not_the_api(compose_file, rooms):
    assert _healthcheck(compose_file, "rooms", rooms.port) == 0
    # Through the room route: the consumer answers (a bad ticket closes with 4401).
    assert _ws_handshake(rooms.port) == 4401
    # Not the API, whatever the host: the standard JSON 404, nothing run.
    status, _, body = _get(f"{rooms.http}/api/auth/me/", Host="localhost")
    assert status == 404 and json.loads(body)["code"] == "not_found"
