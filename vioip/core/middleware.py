"""Request ids and client addresses: every request gets an id, echoed back and written to
audit events, and one client address that a client cannot forge.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the direct peer (the
socket's other end: ``REMOTE_ADDR``, or an ASGI scope's ``client``) is a trusted proxy
(``settings.TRUSTED_PROXIES``, from ``VIOIP_TRUSTED_PROXIES``; default none). The server must
hand the application the real peer: daphne runs without ``--proxy-headers``, which would
overwrite it with the header of any client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# The audit context: who is asking from where. Set by the HTTP middleware and by the room
# consumer; read by the audit trail, so services and selectors never take ``request``.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")
current_client_address: ContextVar[str] = ContextVar("current_client_address", default="")


@contextlib.contextmanager
def audit_context(*, client_address: str, request_id: str) -> Iterator[None]:
    """The audit context of a call made for a connection from elsewhere than its own
    request or task (the heartbeat, a room's door)."""
    address_token = current_client_address.set(client_address)
    token = current_request_id.set(request_id)
    try:
        yield
    finally:
        current_request_id.reset(token)
        current_client_address.reset(address_token)


Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Headers only a trusted proxy may set; dropped from everyone else's requests.
_PROXY_HEADERS = (
    "HTTP_X_REQUEST_ID",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
)


@lru_cache(maxsize=8)
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(value) for value in values)


def _trusted_networks() -> tuple[Network, ...]:
    # Settings hold networks (parsed and checked at start); tests may give strings.
    return _networks(tuple(str(value) for value in getattr(settings, "TRUSTED_PROXIES", [])))


def _parse(value: str) -> Address | None:
    """An address from a peer or a forwarded entry (``1.2.3.4``, ``1.2.3.4:5678``,
    ``[::1]:80``, ``::ffff:1.2.3.4``); None if it is not one."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def resolve_client_address(peer: str, forwarded_for: Iterable[str]) -> str:
    """The client's address given the direct peer and the ``X-Forwarded-For`` values.

    The peer itself unless it is a trusted proxy; then the right-most forwarded address
    that is not a trusted proxy (each proxy appends the address it saw, so entries left
    of the first untrusted one are whatever the client chose to send)."""
    networks = _trusted_networks()
    peer_address = _parse(peer)
    if not _is_trusted(peer_address, networks):
        return str(peer_address) if peer_address is not None else (peer or "")
    assert peer_address is not None  # noqa: S101 - trusted implies parsed
    nearest = peer_address
    entries = [entry for value in forwarded_for for entry in value.split(",") if entry.strip()]
    for entry in reversed(entries):
        address = _parse(entry)
        if address is None:
            break  # garbage from a hop we cannot vouch for: keep the last good hop
        if not _is_trusted(address, networks):
            return str(address)
        nearest = address
    return str(nearest)


def peer_is_trusted_proxy(peer: str) -> bool:
    return _is_trusted(_parse(peer), _trusted_networks())


def client_address(request: HttpRequest) -> str:
    """The client's address as the audit trail and the login throttle see it."""
    peer = request.META.get("REMOTE_ADDR", "") or ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return resolve_client_address(peer, [forwarded] if forwarded else [])


def client_address_for_scope(scope: Mapping[str, Any]) -> str:
    """The client's address of an ASGI connection (the room consumer's audit context)."""
    client = scope.get("client") or ("", 0)
    peer = str(client[0] or "")
    forwarded = [
        value.decode("latin-1")
        for name, value in scope.get("headers") or []
        if name.lower() == b"x-forwarded-for"
    ]
    return resolve_client_address(peer, forwarded)


class TrustedProxyMiddleware:
    """Drops the forwarded headers of a peer that is not a trusted proxy, so neither the
    HTTPS check (``SECURE_PROXY_SSL_HEADER``) nor anything else believes them. Listed first
    in ``MIDDLEWARE``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not peer_is_trusted_proxy(request.META.get("REMOTE_ADDR", "") or ""):
            for header in _PROXY_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


class RequestIdMiddleware:
    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.META.get(self.header, "")
        # A trusted proxy's id is kept when it looks like one (TrustedProxyMiddleware has
        # dropped anyone else's); anything else is replaced, so a client cannot smuggle
        # text, or another request's id, into the audit trail.
        request_id = supplied if _VALID_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request_id.set(request_id)
        address_token = current_client_address.set(client_address(request))
        try:
            response = self.get_response(request)
        finally:
            current_client_address.reset(address_token)
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
