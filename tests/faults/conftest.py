"""Fault tests run only on the production stack: PostgreSQL (``DATABASE_URL``) and Redis
(``REDIS_URL``). They start their own Redis, PostgreSQL and daphne processes and never
touch the configured services beyond the suite's own test database.

Without that configuration they skip; with it but unreachable, they skip locally and fail
in CI (``CI`` set), so a broken CI service cannot turn the suite green by skipping.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from tests.faults.harness import Daphne, OwnPostgres, OwnRedis, server_env


def _configured() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL is not PostgreSQL"
    if not os.environ.get("REDIS_URL"):
        return "REDIS_URL is not set"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    return None


def _reachable() -> str | None:
    import psycopg
    import redis

    try:
        psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5).close()
    except psycopg.OperationalError:
        return "PostgreSQL from DATABASE_URL is unreachable"
    try:
        redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=3).ping()
    except redis.RedisError:
        return "Redis from REDIS_URL is unreachable"
    return None


@pytest.fixture(autouse=True)
def _production_stack_only() -> None:
    why = _configured()
    if why:
        pytest.skip(why)
    why = _reachable()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    yield server
    server.close()


@pytest.fixture
def test_database_url(transactional_db: None) -> str:
    """The suite's test database as a URL for the daphne processes; data written there by
    the test is visible to them and flushed after the test."""
    from django.db import connection

    s = connection.settings_dict
    return f"postgresql://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.fixture
def start_daphne() -> Iterator[Callable[..., Daphne]]:
    started: list[Daphne] = []

    def start(*, database_url: str, redis_url: str, **extra: str) -> Daphne:
        server = Daphne(server_env(database_url=database_url, redis_url=redis_url, **extra))
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@dataclass
class LiveRoom:
    session: Any
    patients: list[Any]
    facilitator: Any

    def ticket(self, user: Any) -> str:
        from sessions_app.rooms import tickets
        from vioip.accounts.tokens import token_issue

        return tickets.ticket_issue(
            user=user, session=self.session, token=token_issue(user=user).token
        ).raw


@pytest.fixture
def make_room(transactional_db: None) -> Callable[[int], LiveRoom]:
    from tests.factories import (
        CareTeamFactory,
        CohortFactory,
        EnrollmentFactory,
        SessionFactory,
        UserFactory,
    )
    from vioip.accounts.models import Role

    def make(patients: int) -> LiveRoom:
        cohort = CohortFactory(waiting_room=False, capacity=max(patients, 1))
        facilitator = UserFactory(role=Role.FACILITATOR)
        CareTeamFactory(cohort=cohort, user=facilitator, role="facilitator")
        members = []
        for _ in range(patients):
            patient = UserFactory(role=Role.PATIENT)
            EnrollmentFactory(cohort=cohort, patient=patient)
            members.append(patient)
        session = SessionFactory(
            cohort=cohort,
            waiting_room=False,
            starts_at=timezone.now() - dt.timedelta(minutes=5),
        )
        return LiveRoom(session=session, patients=members, facilitator=facilitator)

    return make


def own_postgres_with(test_database_url: str, *settings: str) -> Iterator[OwnPostgres]:
    """A cluster of its own (server ``settings`` such as ``max_connections=20``), with the
    suite's migrated schema copied into its database ``vioip``."""
    if not OwnPostgres.available():
        pytest.skip("initdb/pg_ctl not found")
    cluster = OwnPostgres(settings=settings)
    cluster.init()
    cluster.start()
    try:
        subprocess.run(
            ["psql", cluster.url(), "-qc", "CREATE DATABASE vioip"], check=True, timeout=30
        )
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", test_database_url],
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            ["psql", "-q", cluster.url("vioip")],
            input=dump.stdout,
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def own_postgres(test_database_url: str) -> Iterator[OwnPostgres]:
    yield from own_postgres_with(test_database_url)
