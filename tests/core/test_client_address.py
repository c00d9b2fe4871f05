"""Client addresses: X-Forwarded-For and X-Forwarded-Proto are believed only from a peer in
VIOIP_TRUSTED_PROXIES, over HTTP (Django's test client and the ASGI application) and for
the room consumer's scope helper."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator

from tests.factories import PASSWORD, UserFactory
from vioip.audit.models import AuditEvent
from vioip.core.middleware import client_address_for_scope

ROOT = Path(__file__).resolve().parents[2]


def login(api, username, password=PASSWORD, **extra):
    return api.post(
        "/api/auth/login/", {"username": username, "password": password}, format="json", **extra
    )


@pytest.mark.django_db
def test_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(api, settings):
    settings.TRUSTED_PROXIES = []
    UserFactory(username="maria")
    # A new forged address each time: the throttle still sees the one real peer.
    limit = settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
    for n in range(limit):
        response = login(
            api,
            "maria",
            "wrong-password",
            REMOTE_ADDR="203.0.113.50",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        )
        assert response.status_code == 401
    forged = login(api, "maria", REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert forged.status_code == 429
    addresses = set(
        AuditEvent.objects.filter(action__startswith="login").values_list(
            "client_address", flat=True
        )
    )
    assert addresses == {"203.0.113.50"}


@pytest.mark.django_db
def test_forwarded_for_through_a_trusted_proxy_is_believed(api, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    UserFactory(username="maria")
    limit = settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
    for _ in range(limit):
        assert (
            login(
                api,
                "maria",
                "wrong-password",
                REMOTE_ADDR="10.0.0.2",
                # The client prepended a forgery; the proxy appended the address it saw.
                HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7",
            ).status_code
            == 401
        )
    assert set(
        AuditEvent.objects.filter(action="login_failed").values_list("client_address", flat=True)
    ) == {"198.51.100.7"}
    via_proxy = {"REMOTE_ADDR": "10.0.0.2"}
    assert login(api, "maria", HTTP_X_FORWARDED_FOR="198.51.100.7", **via_proxy).status_code == 429
    # Another client behind the same proxy is its own address, not throttled.
    ok = login(api, "maria", HTTP_X_FORWARDED_FOR="198.51.100.8, 10.0.0.3", **via_proxy)
    assert ok.status_code == 200
    assert AuditEvent.objects.get(action="login").client_address == "198.51.100.8"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.5", [], "203.0.113.5"),
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # untrusted peer
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["192.0.2.66, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        ("10.1.2.3", ["192.0.2.66", "198.51.100.1"], "198.51.100.1"),  # two headers
        ("10.1.2.3", ["not-an-address"], "10.1.2.3"),
        ("10.1.2.3", ["10.4.4.4"], "10.4.4.4"),  # only proxies: the farthest one
        ("::ffff:10.1.2.3", ["[2001:db8::7]:4431"], "2001:db8::7"),
        ("", ["198.51.100.1"], ""),  # a unix socket: no peer address
    ],
)
def test_client_address_for_scope_believes_only_trusted_peers(settings, peer, forwarded, expected):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    scope = {
        "type": "websocket",
        "client": (peer, 5555) if peer else None,
        "headers": [(b"host", b"testserver")]
        + [(b"x-forwarded-for", value.encode()) for value in forwarded],
    }
    assert client_address_for_scope(scope) == expected


async def _post_login_through_asgi(*, client, headers):
    from vioip.asgi import application

    body = b'{"username": "maria", "password": "wrong-password"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/auth/login/",
        "raw_path": b"/api/auth/login/",
        "query_string": b"",
        "root_path": "",
        "client": client,
        "server": ("testserver", 80),
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *headers,
        ],
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await communicator.receive_output(timeout=10)
    await communicator.receive_output(timeout=10)
    await communicator.wait()
    return start["status"]


@pytest.mark.django_db(transaction=True)
async def test_the_asgi_application_uses_the_real_peer_unless_it_is_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    await sync_to_async(UserFactory)(username="maria")
    forged = [(b"x-forwarded-for", b"198.51.100.66")]
    assert await _post_login_through_asgi(client=("203.0.113.9", 4000), headers=forged) == 401
    assert await _post_login_through_asgi(client=("10.0.0.2", 4000), headers=forged) == 401
    addresses = [
        event.client_address
        async for event in AuditEvent.objects.filter(action="login_failed").order_by("seq")
    ]
    assert addresses == ["203.0.113.9", "198.51.100.66"]


@pytest.mark.django_db
def test_forwarded_proto_is_ignored_from_an_untrusted_peer(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    # Not /healthz: the probes are answered before the HTTPS redirect (vioip/core/health.py).
    forged = client.get("/api/auth/me/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_PROTO="https")
    assert forged.status_code == 301
    assert forged["Location"].startswith("https://")
    proxied = client.get("/api/auth/me/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_PROTO="https")
    assert proxied.status_code == 401  # reached the view: not redirected


def test_a_bad_trusted_proxy_network_stops_the_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    env.update(
        VIOIP_DEBUG="1",
        VIOIP_LOCAL_DIR=str(tmp_path),
        VIOIP_TRUSTED_PROXIES="10.0.0.0/8,10.0.0.1/8",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "VIOIP_TRUSTED_PROXIES" in result.stderr
    assert "10.0.0.1/8" in result.stderr


async def _bad_ticket_through_asgi(*, client, forwarded_for):
    from channels.testing import WebsocketCommunicator

    from vioip.asgi import application

    communicator = WebsocketCommunicator(
        application,
        "/ws/sessions/1/?ticket=not-a-ticket",
        headers=[(b"origin", b"http://testserver"), (b"x-forwarded-for", forwarded_for)],
    )
    # The peer as the server saw it (the application has not read its scope yet).
    communicator.scope["client"] = client
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_output(timeout=10))["type"] == "websocket.close"
    await communicator.wait()


@pytest.mark.django_db(transaction=True)
async def test_the_room_socket_audits_the_real_peer_unless_it_is_a_trusted_proxy(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    await _bad_ticket_through_asgi(client=["203.0.113.9", 4000], forwarded_for=b"198.51.100.5")
    await _bad_ticket_through_asgi(client=["10.0.0.2", 4000], forwarded_for=b"198.51.100.6")
    addresses = {
        event.client_address async for event in AuditEvent.objects.filter(action="room_denied")
    }
    assert addresses == {"203.0.113.9", "198.51.100.6"}


@pytest.mark.parametrize("server", ["daphne", "vioip.server"])
def test_daphne_refuses_to_serve_with_proxy_headers(tmp_path, server):
    """--proxy-headers would make every client's X-Forwarded-For the peer address: refused
    by plain daphne and by the server the workers run (``vioip.server``)."""
    env = {**os.environ, "VIOIP_DEBUG": "1", "VIOIP_LOCAL_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", server, "--proxy-headers", "-b", "127.0.0.1", "-p", "0"]
    command.append("vioip.asgi:application")
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "VIOIP_TRUSTED_PROXIES" in result.stderr + result.stdout
