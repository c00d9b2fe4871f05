"""An HTTP worker (``VIOIP_PROCESS_ROLE=http``) on PostgreSQL keeps its database
connections in a pool between requests, and after a database restart it answers again by
itself within seconds: the pool's reconnect back-off is cut short (vioip/settings.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from tests.faults.harness import Daphne, OwnPostgres, OwnRedis, room_plan, server_env

# How long the API may stay unavailable after the database is back.
RECOVERY_SECONDS = 20


def _backends(server: OwnPostgres) -> set[int]:
    """The client backends connected to the application's database."""
    with psycopg.connect(server.url("postgres"), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = 'vioip' AND backend_type = 'client backend'"
        ).fetchall()
    return {pid for (pid,) in rows}


async def test_an_http_worker_reuses_its_connections_and_recovers_from_a_database_restart(
    own_postgres: OwnPostgres,
    own_redis: OwnRedis,
    start_daphne: Callable[..., Daphne],
    tmp_path: Path,
) -> None:
    url = own_postgres.url("vioip")
    env = server_env(database_url=url, redis_url=own_redis.url)
    plan = await asyncio.to_thread(
        room_plan, env, tmp_path / "plan.json", participants=1, tickets=1
    )
    token = plan["rest_token"]
    server = start_daphne(database_url=url, redis_url=own_redis.url, VIOIP_PROCESS_ROLE="http")
    api = "/api/me/sessions/"

    assert await asyncio.to_thread(server.get, api, 30, token) == 200
    kept = await asyncio.to_thread(_backends, own_postgres)
    # Without a pool every request opened a connection and closed it when it ended.
    assert kept, "no connection was kept after the request"
    for _ in range(10):
        assert await asyncio.to_thread(server.get, api, 30, token) == 200
    assert await asyncio.to_thread(_backends, own_postgres) == kept

    await asyncio.to_thread(own_postgres.stop, "immediate")
    # During the outage: an error, not a hang.
    assert await asyncio.to_thread(server.get, api, 30, token) >= 500

    await asyncio.to_thread(own_postgres.start)
    deadline = time.monotonic() + RECOVERY_SECONDS
    statuses = []
    while time.monotonic() < deadline:
        statuses.append(await asyncio.to_thread(server.get, api, 30, token))
        if statuses[-1] == 200:
            break
        await asyncio.sleep(0.5)
    assert statuses[-1] == 200, statuses
    assert server.alive()
