"""Liveness (/healthz) and readiness (/readyz) probes. Unauthenticated; no details leak."""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer
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


def _redis_hosts(layer: Any) -> list[dict[str, Any]]:
    config = getattr(layer, "_shards", None)
    if config is not None:  # RedisPubSubChannelLayer
        return [shard.host for shard in config]
    hosts = getattr(layer, "hosts", None)  # RedisChannelLayer
    return list(hosts or [])


def _channel_layer_ok() -> bool:
    layer = get_channel_layer()
    if layer is None:
        return False
    hosts = _redis_hosts(layer)
    if not hosts:
        return True  # in-memory layer: lives in this process
    import redis

    for host in hosts:
        address = host.get("address") if isinstance(host, dict) else host
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
