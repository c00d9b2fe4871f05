"""A burst of API requests on one process is queued, not turned into 500s: under ASGI each
running request holds a database connection of its own, and PostgreSQL refuses connections
past its limit (vioip/core/http_limit.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.conftest import own_postgres_with
from tests.faults.harness import Daphne, OwnPostgres, OwnRedis, room_plan, server_env

BURST = 60


@pytest.fixture
def small_postgres(test_database_url: str) -> Iterator[OwnPostgres]:
    """A server that takes 20 connections (3 of them reserved for superusers)."""
    yield from own_postgres_with(
        test_database_url, "max_connections=20", "superuser_reserved_connections=0"
    )


async def test_a_burst_of_requests_past_the_database_connection_limit_all_succeed(
    small_postgres: OwnPostgres,
    own_redis: OwnRedis,
    start_daphne: Callable[..., Daphne],
    tmp_path: Path,
) -> None:
    url = small_postgres.url("vioip")
    env = server_env(database_url=url, redis_url=own_redis.url)
    plan = await asyncio.to_thread(
        room_plan, env, tmp_path / "plan.json", participants=1, tickets=1
    )
    token = plan["rest_token"]
    server = start_daphne(database_url=url, redis_url=own_redis.url, VIOIP_HTTP_CONCURRENCY="8")
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=BURST) as clients:  # all at once
        statuses = await asyncio.gather(
            *(
                loop.run_in_executor(clients, server.get, "/api/me/sessions/", 60, token)
                for _ in range(BURST)
            )
        )
    assert statuses == [200] * BURST
    assert "too many clients" not in server.log_text()
