"""The shipped proxy config, run for real: Debian's nginx with
``deploy/nginx/vioip.conf.template`` (rendered as the official image's envsubst does, the
upstreams pointed at local ports, a certificate made on the spot) in front of one HTTP
worker and one room worker started with the compose file's environment, on PostgreSQL and
Redis. Through ``https://``: log in, get a ticket, chat over ``wss://``.

The client connects from 127.0.0.2 and nginx from 127.0.0.1, the workers' only trusted
proxy: the audit trail shows 127.0.0.2 (nginx's X-Forwarded-For believed), never the
address the client forged in its own X-Forwarded-For.

Needs ``DATABASE_URL`` on PostgreSQL and ``REDIS_URL`` (the embedded in-memory layer cannot
join two processes); skipped without them. Skipped without nginx, unless
``VIOIP_REQUIRE_SYSTEM_TOOLS=1`` (CI), where a missing nginx fails.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.deploy import compose
from tests.factories import PASSWORD, SessionFactory
from tests.faults.harness import wait_for_port
from tests.rooms.servers import Daphne, current_database_url, free_port
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

NGINX = "/usr/sbin/nginx"
TEMPLATE = compose.ROOT / "deploy" / "nginx" / "vioip.conf.template"
CLIENT = "127.0.0.2"  # the client's own address; nginx reaches the workers from 127.0.0.1
FORGED = "198.51.100.7"


def _services_or_skip() -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not os.environ.get(
        "REDIS_URL"
    ):
        pytest.skip("needs DATABASE_URL on PostgreSQL and REDIS_URL (one channel layer)")
    if not (os.access(NGINX, os.X_OK) and shutil.which("openssl")):
        if os.environ.get("VIOIP_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(f"{NGINX} or openssl is missing (run scripts/setup-system)")
        pytest.skip(f"{NGINX} or openssl is not installed")


def render(template: str, values: dict[str, str]) -> str:
    """envsubst over ``${VIOIP_...}`` only, as the official image runs it with
    NGINX_ENVSUBST_FILTER=^VIOIP_; nginx's own ``$variables`` stay."""
    missing = sorted(set(re.findall(r"\$\{(VIOIP_[A-Z0-9_]+)\}", template)) - set(values))
    assert not missing, f"the template needs {missing}"
    return re.sub(r"\$\{(VIOIP_[A-Z0-9_]+)\}", lambda m: values[m.group(1)], template)


@dataclass
class Stack:
    https_port: int
    http_port: int
    context: ssl.SSLContext
    web: Daphne
    rooms: Daphne
    prefix: Path

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            context=self.context,
            timeout=20,
            source_address=(CLIENT, 0),
        )
        sent = {"Host": "localhost", "X-Forwarded-For": FORGED, **(headers or {})}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=data, headers=sent)
            reply = connection.getresponse()
            return reply.status, reply.headers, reply.read()
        finally:
            connection.close()


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "fullchain.pem", directory / "privkey.pem"
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    command += ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
    command += ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return cert, key


def _nginx_conf(prefix: Path, site: str) -> Path:
    """A main config around the shipped site config (which sits in ``http {}``): this
    test's own pid, logs and temporary folders, one process (no privilege drop)."""
    (prefix / "site.conf").write_text(site)
    temp = "".join(
        f"    {kind}_temp_path {prefix / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = prefix / "nginx.conf"
    conf.write_text(
        "daemon off;\nmaster_process off;\nworker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    default_type application/octet-stream;\n"
        f"{temp}"
        f"    include {prefix / 'site.conf'};\n"
        "}\n"
    )
    return conf


def _worker(service: str, tmp_path: Path) -> Daphne:
    env = compose.service_env(
        compose.load(),
        service,
        database_url=current_database_url(),
        redis_url=os.environ["REDIS_URL"],
    )
    # nginx reaches the workers from loopback here; in compose, from its fixed address.
    env["VIOIP_TRUSTED_PROXIES"] = "127.0.0.1/32"
    env["VIOIP_LOG_LEVEL"] = "WARNING"
    daphne = Daphne(free_port(), env, tmp_path / f"{service}.log")
    daphne.wait_ready()
    return daphne


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[Stack]:
    """One stack for the module (the workers use the test database by its URL)."""
    _services_or_skip()
    with django_db_blocker.unblock():
        yield from _run_stack(tmp_path_factory.mktemp("stack"))


def _run_stack(tmp_path: Path) -> Iterator[Stack]:
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    cert, key = _certificate(prefix)
    workers: list[Daphne] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        web = _worker("web", tmp_path)
        workers.append(web)
        rooms = _worker("rooms", tmp_path)
        workers.append(rooms)
        https_port, http_port = free_port(), free_port()
        nginx_env = compose.load()["services"]["nginx"]["environment"]
        site = render(
            TEMPLATE.read_text(),
            {
                "VIOIP_NGINX_HTTP_PORT": f"127.0.0.1:{http_port}",
                "VIOIP_NGINX_HTTPS_PORT": f"127.0.0.1:{https_port}",
                "VIOIP_TLS_CERT": str(cert),
                "VIOIP_TLS_KEY": str(key),
                "VIOIP_WEB_UPSTREAM": f"127.0.0.1:{web.port}",
                "VIOIP_ROOMS_UPSTREAM": f"127.0.0.1:{rooms.port}",
                "VIOIP_NGINX_RESOLVER": "127.0.0.1",
                "VIOIP_MAX_REQUEST_BODY_KIB": str(nginx_env["VIOIP_MAX_REQUEST_BODY_KIB"]),
            },
        )
        conf = _nginx_conf(prefix, site)
        checked = subprocess.run(
            [NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
        with (prefix / "stdout.log").open("wb") as out:
            nginx = subprocess.Popen(
                [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(https_port)
        wait_for_port(http_port)
        context = ssl.create_default_context(cafile=str(cert))
        yield Stack(https_port, http_port, context, web, rooms, prefix)
    finally:
        if nginx is not None and nginx.poll() is None:
            nginx.send_signal(signal.SIGQUIT)
            try:
                nginx.wait(10)
            except subprocess.TimeoutExpired:
                nginx.kill()
                nginx.wait()
        for worker in workers:
            worker.stop()


@pytest.fixture
def room(cast: Any, settings: Any) -> Any:
    # The workers check passwords with the production hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    cast.patient.set_password(PASSWORD)
    cast.patient.save(update_fields=["password"])
    return SessionFactory(cohort=cast.cohort, waiting_room=False)


async def _chat_over_wss(stack: Stack, session_id: int, ticket: str) -> dict[str, Any]:
    """Enters the room through nginx, sends one chat message and returns it as received."""
    async with connect(
        f"wss://localhost:{stack.https_port}/ws/sessions/{session_id}/?ticket={ticket}",
        host="127.0.0.1",
        port=stack.https_port,
        local_addr=(CLIENT, 0),
        ssl=stack.context,
        server_hostname="localhost",
        origin="https://localhost",  # type: ignore[arg-type]
        additional_headers={"X-Forwarded-For": FORGED},
        proxy=None,
        compression=None,
        open_timeout=20,
    ) as ws:

        async def frame(kind: str) -> dict[str, Any]:
            while True:
                received = json.loads(await asyncio.wait_for(ws.recv(), timeout=20))
                if received["type"] == kind:
                    return dict(received)

        state = await frame("room.state")
        assert state["me"]["state"] == "admitted"
        client_id = str(uuid.uuid4())
        await ws.send(json.dumps({"type": "chat.send", "client_id": client_id, "text": "hello"}))
        message = await frame("chat.message")
        assert message["client_id"] == client_id
        return message


def test_log_in_get_a_ticket_and_chat_over_wss_through_nginx(stack, cast, room):
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    status, headers, body = stack.request(
        "POST", "/api/auth/login/", {"username": cast.patient.username, "password": PASSWORD}
    )
    assert status == 200, body
    token = json.loads(body)["token"]
    # nginx's request id reached the app (a trusted proxy's) and came back.
    login_request_id = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", login_request_id)
    # One HSTS header, nginx's.
    assert headers.get_all("Strict-Transport-Security") == ["max-age=31536000; includeSubDomains"]

    status, _, body = stack.request("POST", f"/api/sessions/{room.pk}/ticket/", token=token)
    assert status == 201, body
    ticket = json.loads(body)["ticket"]

    # /ws/ reaches the room worker (the HTTP worker refuses every WebSocket handshake).
    message = asyncio.run(_chat_over_wss(stack, room.pk, ticket))
    assert message["text"] == "hello"

    events = list(AuditEvent.objects.filter(seq__gt=before).order_by("seq"))
    actions = {event.action for event in events}
    assert {"login", "room_join"} <= actions, actions
    # nginx's X-Forwarded-For is believed, the client's own never: every event has the
    # client's real address, none the forged one.
    assert {event.client_address for event in events} == {CLIENT}
    login = next(event for event in events if event.action == "login")
    assert login.request_id == login_request_id


def test_plain_http_is_sent_to_https(stack):
    connection = http.client.HTTPConnection("127.0.0.1", stack.http_port, timeout=10)
    connection.request("GET", "/api/auth/me/?page=2", headers={"Host": "localhost"})
    reply = connection.getresponse()
    assert reply.status == 301
    assert reply.headers["Location"] == "https://localhost/api/auth/me/?page=2"
    connection.close()


def test_the_api_goes_to_the_http_worker_and_a_body_over_the_limit_is_refused(stack):
    # The room worker would answer the API with 404; the HTTP worker answers 401.
    status, _, body = stack.request("GET", "/api/auth/me/")
    assert status == 401, body
    # Over VIOIP_MAX_REQUEST_BODY_KIB: refused by nginx with the app's error body.
    too_large = b"x" * (1024 * 1024 + 1)
    status, headers, body = stack.request(
        "POST", "/api/auth/login/", raw=too_large, headers={"Content-Type": "application/json"}
    )
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "too_large"
    # nginx's log keeps no query strings (room tickets travel in one).
    assert "ticket=" not in (stack.prefix / "stdout.log").read_text()


# Last: it stops the module's HTTP worker.
def test_a_worker_that_is_down_is_a_json_503(stack):
    stack.web.stop()
    status, _, body = stack.request("GET", "/api/auth/me/")
    assert status == 503
    assert json.loads(body)["code"] == "unavailable"
