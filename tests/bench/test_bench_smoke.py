"""The room benchmark keeps working: ``python -m bench.rooms --smoke`` against each stack.

Tiny sizes for a few seconds; the figures mean nothing, only that every part still runs and
that the generator sees every message. The benchmark itself never runs in the suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_smoke(out_dir: Path, stacks: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.rooms", "--smoke", "--stacks", stacks]
    command += ["--out-dir", str(out_dir)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=55)
    except subprocess.TimeoutExpired:
        # SIGTERM to the group lets the harness stop the servers it started.
        os.killpg(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=15)
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads((out_dir / "results.json").read_text())


def assert_every_message_arrived(outcome: dict[str, Any]) -> None:
    assert "failed" not in outcome, outcome.get("failed")
    assert outcome["sockets_held"] == outcome["sockets_planned"] == 10
    assert outcome["storm"]["failed"] == 0
    assert outcome["steps"], "no load step ran"
    for step in outcome["steps"]:
        assert step["messages_sent"] > 0
        assert step["lost_deliveries"] == 0, step
        assert set(step["late_seconds"]) == {"count", "worst"}
    assert outcome["seq_gaps_total"] == 0
    assert outcome["errors_total"] == {}


def test_smoke_run_measures_the_floor_and_writes_the_report(tmp_path: Path) -> None:
    results = run_smoke(tmp_path, "floor")

    assert_every_message_arrived(results["sizes"][0]["stacks"]["floor"])
    report = (tmp_path / "RESULTS.md").read_text()
    assert "| floor |" in report
    assert (tmp_path / "latency.png").stat().st_size > 0


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
@pytest.mark.parametrize("stack", ["channels-core", "channels-pubsub"])
def test_smoke_run_measures_the_channels_chat(tmp_path: Path, stack: str) -> None:
    results = run_smoke(tmp_path, stack)

    assert_every_message_arrived(results["sizes"][0]["stacks"][stack])


def _postgres_url() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


@pytest.fixture
def scratch_database(transactional_db: None) -> Iterator[str]:
    """A database of its own for the smoke run, dropped afterwards, so the benchmark's users
    and rooms never land in anyone's working database. It is copied from the suite's
    migrated test database, which keeps the run well inside a minute."""
    url = _postgres_url()
    if url is None:
        pytest.skip("DATABASE_URL is not PostgreSQL")
    psycopg = pytest.importorskip("psycopg")
    base, _, _ = url.rpartition("/")
    try:
        psycopg.connect(f"{base}/postgres", connect_timeout=5).close()
    except psycopg.OperationalError:
        if os.environ.get("CI"):
            raise
        pytest.skip("PostgreSQL from DATABASE_URL is not reachable")
    from django.db import connections

    template = connections["default"].settings_dict["NAME"]
    connections.close_all()
    name = f"vioip_bench_smoke_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.skipif(
    importlib.util.find_spec("sessions_app.rooms.consumers") is None,
    reason="the rooms consumer is not built yet",
)
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_smoke_run_measures_vioip_rooms(tmp_path: Path, scratch_database: str) -> None:
    env = {**os.environ, "DATABASE_URL": scratch_database, "VIOIP_LOCAL_DIR": str(tmp_path)}

    results = run_smoke(tmp_path, "vioip", env)

    outcome = results["sizes"][0]["stacks"]["vioip"]
    assert_every_message_arrived(outcome)
    assert outcome["presence_frames"] > 0
    # As compose runs it: rooms on a room worker, the REST probe answered by an HTTP worker
    # (a room worker answers only its health probes, so a 200 here is the HTTP worker's).
    probes = [step["rest"] for step in outcome["steps"] if "rest" in step]
    assert probes, "the REST probe did not run"
    assert all(set(probe["statuses"]) == {"200"} for probe in probes), probes
    assert all(set(probe["late_seconds"]) == {"count", "worst"} for probe in probes), probes


def test_late_seconds_name_the_seconds_of_a_step_that_were_late() -> None:
    from bench.loadgen import late_seconds

    origin = 100.0
    dues = [100.1, 100.5, 101.2, 101.3, 102.4, 103.9, 104.0]
    latencies = [0.010, 0.200, 0.060, 0.040, 0.049, 0.300, 0.051]
    summary = late_seconds(dues, latencies, origin)
    # Seconds 0, 1, 3 and 4 had something over 50 ms; second 2 (49 ms) did not.
    assert summary["count"] == 4
    # The three worst, in the order they happened, with their slowest latency.
    assert summary["worst"] == [[0, 200.0], [1, 60.0], [3, 300.0]]
    assert late_seconds([], [], origin) == {"count": 0, "worst": []}
