"""``sweep_rooms --every N``: the compose ``sweep`` service's loop. It sweeps at once and
then every N seconds, marks each completed sweep in its heartbeat file (the service's
healthcheck), and a stop (SIGTERM, what ``docker-compose stop`` sends) ends it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.deploy.compose import ROOT
from tests.rooms.servers import current_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def _wait_for(predicate, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_the_sweep_loop_runs_every_interval_and_stops_cleanly_on_sigterm(tmp_path):
    beat = tmp_path / "sweep.beat"
    log = tmp_path / "sweep.log"
    env = {**os.environ, "DATABASE_URL": current_database_url()}
    command = [sys.executable, "manage.py", "sweep_rooms", "--every", "1"]
    command += ["--heartbeat", str(beat)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert _wait_for(beat.exists), log.read_text()
        first = beat.stat().st_mtime_ns
        # A second round a second later: the file's time moves on.
        assert _wait_for(lambda: beat.stat().st_mtime_ns > first), log.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = log.read_text()
    rounds = output.count("nothing to sweep") + output.count("taken out of rooms")
    assert rounds >= 2, output
    assert output.rstrip().endswith("Sweep stopped.")
    assert "Traceback" not in output


def test_a_sweep_interval_below_one_second_is_refused():
    with pytest.raises((CommandError, SystemExit)):
        call_command("sweep_rooms", "--every", "0")


def test_without_every_it_sweeps_once(capsys):
    call_command("sweep_rooms")
    out = capsys.readouterr().out
    assert "nothing to sweep" in out or "taken out of rooms" in out
    assert "Sweep stopped." not in out


def test_the_compose_sweep_service_runs_the_loop_with_its_healthcheck_file():
    from tests.deploy import compose

    sweep = compose.load()["services"]["sweep"]
    command = sweep["command"]
    assert command[:3] == ["python", "manage.py", "sweep_rooms"]
    assert command[command.index("--every") + 1] == "60"
    beat = command[command.index("--heartbeat") + 1]
    assert beat in " ".join(sweep["healthcheck"]["test"])
    assert Path(beat).is_absolute()
