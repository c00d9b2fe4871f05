"""HTTP through the ASGI application (vioip/core/asgi_http.py): each request's synchronous part
runs on one thread of a pool the size of VIOIP_HTTP_CONCURRENCY, and the responses are the
ones the handler gives anywhere else: API JSON, errors, static files that stream."""

import asyncio
import json
import os
import subprocess
import sys
import threading
from contextvars import ContextVar
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from django.core.signals import request_finished, request_started

from tests.factories import PASSWORD, UserFactory

ROOT = Path(__file__).resolve().parents[2]


async def _request(method, path, *, body=b"", headers=()):
    from vioip.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "client": ("203.0.113.9", 4000),
        "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), *headers],
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    chunks = []
    while True:
        message = await communicator.receive_output(timeout=10)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    await communicator.wait()
    return start["status"], dict(start["headers"]), b"".join(chunks)


async def _post_login(body):
    return await _request(
        "POST",
        "/api/auth/login/",
        body=body,
        headers=[(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
    )


async def _login(username):
    body = f'{{"username": "{username}", "password": "{PASSWORD}"}}'.encode()
    status, _, content = await _post_login(body)
    assert status == 200
    return json.loads(content)["token"]


@pytest.mark.django_db(transaction=True)
async def test_an_api_request_over_asgi_runs_start_to_finish_on_one_thread():
    await sync_to_async(UserFactory)(username="maria")
    seen = []

    def started(**kwargs):
        seen.append(("started", threading.get_ident()))

    def finished(**kwargs):
        seen.append(("finished", threading.get_ident()))

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        token = await _login("maria")
        status, headers, content = await _request(
            "GET", "/api/auth/me/", headers=[(b"authorization", f"Bearer {token}".encode())]
        )
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert status == 200
    assert b'"username":"maria"' in content.replace(b" ", b"")
    assert b"no-store" in headers[b"Cache-Control"]
    # Two requests, each started and finished on one thread (its database connection's),
    # never the event loop's.
    assert [kind for kind, _ in seen] == ["started", "finished", "started", "finished"]
    assert seen[0][1] == seen[1][1] and seen[2][1] == seen[3][1]
    assert threading.get_ident() not in {ident for _, ident in seen}


@pytest.mark.django_db(transaction=True)
async def test_errors_over_asgi_are_the_json_error_bodies():
    status, headers, content = await _request("GET", "/api/no-such-thing/")
    assert status == 404
    assert headers[b"Content-Type"] == b"application/json"
    assert b'"code"' in content and b"Traceback" not in content
    status, _, content = await _request("GET", "/api/auth/me/")
    assert status == 401
    # A body that is not JSON: a 400 with the parser's error, nothing changed.
    status, _, content = await _post_login(b"{not json")
    assert status == 400
    assert b"Traceback" not in content


@pytest.mark.django_db(transaction=True)
async def test_a_static_file_streams_whole_over_asgi():
    status, _, content = await _request("GET", "/static/web/app.js")
    assert status == 200
    assert content == (ROOT / "web" / "static" / "web" / "app.js").read_bytes()


@pytest.mark.django_db(transaction=True)
async def test_requests_at_once_over_asgi_share_at_most_the_configured_threads(settings):
    settings.HTTP_CONCURRENCY = 3
    await sync_to_async(UserFactory)(username="maria")
    token = await _login("maria")
    auth = [(b"authorization", f"Bearer {token}".encode())]
    threads = set()

    def started(**kwargs):
        threads.add(threading.get_ident())

    request_started.connect(started)
    try:
        results = await asyncio.gather(
            *(_request("GET", "/api/auth/me/", headers=auth) for _ in range(12))
        )
    finally:
        request_started.disconnect(started)
    assert [status for status, _, _ in results] == [200] * 12
    assert 1 <= len(threads) <= 3


@pytest.mark.django_db(transaction=True)
async def test_nothing_a_request_sets_in_its_context_reaches_the_next_on_the_same_thread(
    settings,
):
    settings.HTTP_CONCURRENCY = 1  # both requests on the one thread
    probe: ContextVar[str | None] = ContextVar("probe", default=None)
    seen = []

    def started(**kwargs):
        seen.append(probe.get())
        probe.set("left over from an earlier request")

    request_started.connect(started)
    try:
        for _ in range(2):
            status, _, _ = await _request("GET", "/api/auth/me/")
            assert status == 401
    finally:
        request_started.disconnect(started)
    assert seen == [None, None]


@pytest.mark.parametrize(("role", "loaded"), [("http", True), ("all", True), ("rooms", False)])
def test_a_worker_that_serves_http_imports_its_views_when_it_starts(tmp_path, role, loaded):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(VIOIP_DEBUG="1", VIOIP_LOCAL_DIR=str(tmp_path), VIOIP_PROCESS_ROLE=role)
    probe = "import sys, vioip.asgi; print('sessions_app.apis' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # Not on the first request: that request took 380 ms instead of 10 while the URLconf
    # and every view were imported, and the requests behind it waited.
    assert result.stdout.strip() == str(loaded)
