"""A real daphne with the demo program for the browser tests, and Debian's Chromium.

One server per test module (the room flow ends the demo's open session): a temporary
SQLite file on the embedded default, or a database of its own on the PostgreSQL server of
``DATABASE_URL`` with ``REDIS_URL``'s Redis when both are set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import Daphne

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "demo-vioip-2026"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _require(reason: str) -> None:
    if os.environ.get("VIOIP_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(f"{reason} (VIOIP_REQUIRE_SYSTEM_TOOLS=1)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _close_async_db_connections() -> None:
    # Replaces the suite's async fixture of that name: these tests use no test database, and
    # Playwright's sync API keeps an event loop on this thread for the whole module.
    return None


@pytest.fixture(scope="module")
def playwright_api() -> Any:
    if not (os.path.exists(CHROMIUM) and shutil.which("chromium")):
        _require(f"{CHROMIUM} is not installed")
    try:
        import axe_playwright_python.sync_playwright  # noqa: F401
        import playwright.sync_api
    except ImportError:
        _require("playwright and axe-playwright-python are not installed")
    return playwright.sync_api


@pytest.fixture(scope="module")
def browser(playwright_api: Any) -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class WebServer(Daphne):
    """The demo program behind one daphne; ``restart`` kills it and starts it again on the
    same port and database, as a crash and a supervisor's restart would."""

    def restart(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.start()


def _postgres_database(url: str) -> tuple[str, Any]:
    """A fresh database next to DATABASE_URL's, and a function that drops it."""
    import dj_database_url
    import psycopg

    parsed = dj_database_url.parse(url)
    name = f"{parsed['NAME']}_web_{uuid.uuid4().hex[:8]}"
    admin = dict(
        host=parsed["HOST"] or None,
        port=parsed["PORT"] or None,
        user=parsed["USER"] or None,
        password=parsed["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**admin) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(**admin) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.rsplit("/", 1)[0] + f"/{name}", drop


@pytest.fixture(scope="module")
def web_server(request: Any, playwright_api: Any) -> Iterator[WebServer]:
    local_dir = tempfile.mkdtemp(prefix="vioip-web-")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "vioip.settings",
            "VIOIP_DEBUG": "1",
            "VIOIP_LOCAL_DIR": local_dir,
            "VIOIP_SSL_REDIRECT": "0",
            "VIOIP_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "VIOIP_MFA_REQUIRED_ROLES": "",
            "VIOIP_LOG_LEVEL": "WARNING",
            # A module may ask for more (e.g. a second factor required for some roles).
            **getattr(request.module, "SERVER_ENV", {}),
        }
    )
    drop = None
    database_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if database_url and redis_url:
        env["DATABASE_URL"], drop = _postgres_database(database_url)
        env["REDIS_URL"] = redis_url
        import redis

        # Presence of an earlier run's rooms (same session ids) must not show up here.
        redis.Redis.from_url(redis_url).flushdb()
    try:
        for command in (["migrate", "--no-input"], ["seed_demo"]):
            subprocess.run(
                [sys.executable, "manage.py", *command],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                timeout=300,
            )
        server = WebServer(env)
        server.start()
        yield server
        server.stop()
    finally:
        if drop is not None:
            with contextlib.suppress(Exception):
                drop()
        shutil.rmtree(local_dir, ignore_errors=True)
