"""Liveness (/healthz) and readiness (/readyz) probes. Unauthenticated; no details leak.

Answered by ``HealthProbeMiddleware`` ahead of the host and HTTPS checks, so a probe from
inside a container (``http://127.0.0.1:8000/readyz``) works with production settings."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("vioip.health")


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.warning("readiness: database unreachable")
        return False
    return True


def _channel_layer_ok() -> bool:
    config = settings.CHANNEL_LAYERS.get("default", {})
    hosts = config.get("CONFIG", {}).get("hosts", [])
    if not hosts:
        return "InMemoryChannelLayer" in config.get("BACKEND", "")
    import redis

    for host in hosts:
        address = str(host.get("address") if isinstance(host, dict) else host)
        try:
            client = redis.Redis.from_url(address, socket_connect_timeout=1, socket_timeout=1)
            client.ping()
            client.close()
        except Exception:
            logger.warning("readiness: channel layer (redis) unreachable")
            return False
    return True


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "channel_layer": _channel_layer_ok()}
    ready = all(checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )


# Answered before the host and HTTPS checks: a container's own probe reaches the process
# as http://127.0.0.1:8000, which is neither an allowed host nor HTTPS. Only these two
# paths, only GET and HEAD, and they say nothing but "up" and which dependency is down.
_PROBES = {"/healthz": healthz, "/readyz": readyz}


class HealthProbeMiddleware:
    """Answers ``GET /healthz`` and ``GET /readyz`` whatever the Host header or scheme.

    Listed before ``SecurityMiddleware`` (the HTTPS redirect) and everything that calls
    ``request.get_host()``; every other path still goes through both checks."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = _PROBES.get(request.path_info)
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        return probe(request)
