"""Log lines: JSON (or text) with the request id on every line of a request, tracebacks of
500s under the ref the error body gives, and nothing of the request's content."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vioip.core.logging import JsonFormatter, RequestIdFilter, TextFormatter

ROOT = Path(__file__).resolve().parents[2]
PHI = "PHI-marker-Alex-Rivera-1979"


@pytest.fixture
def log_output():
    """What the console handler would write, as JSON lines, for records at INFO and above."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def failing_login(monkeypatch):
    """The login view fails after reading the body, with a message quoting it."""
    from vioip.accounts.apis import LoginApi

    def broken(self, request):
        password = request.data["password"]
        raise ValueError(f"cannot check {password}")

    monkeypatch.setattr(LoginApi, "post", broken)


@pytest.mark.django_db
def test_a_500_logs_its_traceback_under_the_ref_of_the_body(client_for, failing_login, log_output):
    client = client_for(None)
    client.raise_request_exception = False
    response = client.post("/api/auth/login/", {"username": "alex", "password": PHI}, format="json")
    assert response.status_code == 500
    ref = response.json()["ref"]
    lines = log_output()
    assert lines, "nothing was logged"
    # Every line about the request carries its id, the one the body gives as ref.
    assert {line["request_id"] for line in lines} == {ref}
    errors = [line for line in lines if line["level"] == "ERROR"]
    traced = [line for line in errors if "exception" in line]
    assert len(traced) == 1
    trace = traced[0]["exception"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "in broken" in trace and "ValueError" in trace
    # Neither the body nor the exception's message (which quotes it), nor any local.
    assert PHI not in json.dumps(lines)


@pytest.mark.django_db
def test_a_failure_below_the_views_is_logged_with_the_same_ref(client_for, monkeypatch, log_output):
    from django.middleware.csrf import CsrfViewMiddleware

    def broken(self, request, *args):
        raise RuntimeError(PHI)

    monkeypatch.setattr(CsrfViewMiddleware, "process_view", broken)
    client = client_for(None)
    client.raise_request_exception = False
    response = client.get("/api/auth/me/", {"q": PHI})
    ref = response.json()["ref"]
    lines = log_output()
    traced = [line for line in lines if "exception" in line]
    assert [line["request_id"] for line in traced] == [ref]
    assert "in broken" in traced[0]["exception"]
    assert PHI not in json.dumps(lines)


@pytest.mark.django_db
def test_a_line_outside_any_request_has_no_request_id(log_output):
    logging.getLogger("vioip.test").warning("between requests")
    (line,) = log_output()
    assert line["request_id"] is None
    assert line["logger"] == "vioip.test" and line["message"] == "between requests"
    assert line["time"].endswith("+00:00")


def test_text_lines_carry_the_request_id_and_a_traceback_without_values():
    from vioip.core.middleware import current_request_id

    record = None
    token = current_request_id.set("req-12345678")
    try:
        try:
            secret = PHI
            raise KeyError(secret)
        except KeyError:
            record = logging.LogRecord(
                "vioip.x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
            )
        RequestIdFilter().filter(record)
    finally:
        current_request_id.reset(token)
    text = TextFormatter().format(record)
    first, *trace = text.splitlines()
    assert first.endswith("ERROR vioip.x [req-12345678] failed once")
    assert trace[0] == "Traceback (most recent call last):"
    assert "KeyError" in trace[-1]
    assert PHI not in text


def _start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('vioip.probe').warning('started')"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "vioip.settings",
            "VIOIP_LOCAL_DIR": str(tmp_path),
            "VIOIP_SECRET_KEY": "a-production-like-secret-" + "x" * 40,
            "VIOIP_FIELD_KEYS": "Lp0Qm7z8Qh2l4dKXqVbJ5m8m2QfS3wM0sX1rJ8pWm1Y=",
            "VIOIP_AUDIT_KEY": "a-production-like-audit-key-0123456789",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "is_json"),
    [
        ({}, True),  # production: JSON lines for a log shipper
        ({"VIOIP_DEBUG": "1"}, False),  # the embedded default: plain lines
        ({"VIOIP_LOG_FORMAT": "text"}, False),
        ({"VIOIP_DEBUG": "1", "VIOIP_LOG_FORMAT": "json"}, True),
    ],
)
def test_log_format_follows_vioip_log_format(tmp_path, env, is_json):
    result = _start(env, tmp_path)
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "started" in line]
    if is_json:
        entry = json.loads(line)
        assert entry["level"] == "WARNING" and entry["message"] == "started"
        assert entry["request_id"] is None
    else:
        assert line.endswith("WARNING vioip.probe [-] started")
