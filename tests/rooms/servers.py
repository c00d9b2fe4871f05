"""Real daphne processes for tests that need them (started on the test's own database)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.db import connection

# Straight to the local daphnes, whatever proxy the environment names.
http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def current_database_url() -> str:
    """A URL of the database this test runs on, for processes started by the test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgresql://{auth}{db.get('HOST') or '127.0.0.1'}{port}/{db['NAME']}"


def daphne_env(local_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": current_database_url(),
        "VIOIP_ALLOWED_HOSTS": "127.0.0.1",
        "VIOIP_SSL_REDIRECT": "0",
        "VIOIP_LOCAL_DIR": str(local_dir),
        "VIOIP_LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("VIOIP_DEBUG", None)
    return env


class Daphne:
    def __init__(self, port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vioip.server",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "vioip.asgi:application",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), http.open(f"{self.http}/healthz", timeout=1):
                return
            time.sleep(0.2)
        raise RuntimeError(f"daphne did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
