"""Liveness (/healthz) and readiness (/readyz) probes. Unauthenticated; no details leak."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

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
