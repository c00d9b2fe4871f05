"""Configuration: `.env.example` documents every variable the code reads, no more, with the
code's defaults; a bad value stops the process at start with a message naming it."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The application's code; tests, bench tools and the deployment's scripts are not configured
# through .env.
PACKAGES = ["vioip", "groups", "sessions_app", "screening", "web"]
HELPERS = {"env_str", "env_int", "env_bool", "env_list", "env_float", "env_choice", "env_url"}
# Read by Django's own machinery or by commands, not settings of a deployment.
NOT_SETTINGS = {"DJANGO_SETTINGS_MODULE"}
# Read by docker-compose.yml, not by the code (the section of .env.example saying so).
COMPOSE_SECTION = "--- docker-compose only"

PRODUCTION_ENV = {
    "VIOIP_SECRET_KEY": "a-production-like-secret-" + "x" * 40,
    "VIOIP_FIELD_KEYS": "Lp0Qm7z8Qh2l4dKXqVbJ5m8m2QfS3wM0sX1rJ8pWm1Y=",
    "VIOIP_AUDIT_KEY": "a-production-like-audit-key-0123456789",
    "VIOIP_ALLOWED_HOSTS": "vioip.example.org",
}


def _environment_reads() -> dict[str, list[ast.expr]]:
    """Every variable the code reads, with the default arguments it gives (if any)."""
    reads: dict[str, list[ast.expr]] = {}
    files = [ROOT / "manage.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name, default = _read_of(node)
            if name and name not in NOT_SETTINGS:
                reads.setdefault(name, [])
                if default is not None:
                    reads[name].append(default)
    return reads


def _read_of(node: ast.AST) -> tuple[str | None, ast.expr | None]:
    def literal(arg: ast.expr) -> str | None:
        return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None

    if isinstance(node, ast.Call) and node.args:
        func = node.func
        called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        default = node.args[1] if len(node.args) > 1 else None
        if called in HELPERS:
            return literal(node.args[0]), default
        # os.environ.get("X"), os.getenv("X")
        if called in {"get", "getenv"} and (
            _is_os_environ(getattr(func, "value", None)) or _is_os(getattr(func, "value", None))
        ):
            return literal(node.args[0]), default
    # os.environ["X"]
    if isinstance(node, ast.Subscript) and _is_os_environ(node.value):
        return literal(node.slice) if isinstance(node.slice, ast.expr) else None, None
    return None, None


def _is_os(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Name) and node.id == "os"


def _is_os_environ(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and _is_os(node.value)


def _documented() -> tuple[dict[str, str | None], set[str]]:
    """.env.example's variables (value if set, None if only shown in a comment) and those of
    its docker-compose section."""
    variables: dict[str, str | None] = {}
    compose: set[str] = set()
    in_compose = False
    for line in (ROOT / ".env.example").read_text().splitlines():
        if COMPOSE_SECTION in line:
            in_compose = True
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]+)=(.*)$", line)
        if not match:
            continue
        commented, name, value = match.groups()
        if in_compose:
            compose.add(name)
        if commented:
            variables.setdefault(name, None)
        else:
            variables[name] = value
    return variables, compose


def test_env_example_lists_every_variable_the_code_reads():
    reads = _environment_reads()
    documented, _ = _documented()
    assert len(reads) > 30
    assert sorted(set(reads) - set(documented)) == []


def test_env_example_lists_nothing_the_code_does_not_read():
    reads = _environment_reads()
    documented, compose = _documented()
    assert sorted(set(documented) - set(reads) - compose) == []


def _as_text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        return str(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return "1" if node.value else "0"
    return None  # computed (e.g. "on outside debug"): compared by reading the comment


def test_values_in_env_example_are_the_code_defaults():
    # Required settings (secrets, hosts, service URLs) have no default to agree with.
    reads = _environment_reads()
    documented, compose = _documented()
    disagree = {}
    for name, value in documented.items():
        if value in (None, "") or name in compose:
            continue
        defaults = {text for text in map(_as_text, reads.get(name, [])) if text is not None}
        if defaults and value not in defaults and not _same_number(value, defaults):
            disagree[name] = (value, sorted(defaults))
    assert disagree == {}


def _same_number(value: str, defaults: set[str]) -> bool:
    try:
        return any(float(value) == float(default) for default in defaults)
    except ValueError:
        return False


def setup_process(
    env: dict[str, str], tmp_path: Path, then: str = ""
) -> subprocess.CompletedProcess[str]:
    """Django set up in a fresh process with the production-like ``env``; ``then`` is
    code to run after it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {then}"],
        cwd=ROOT,
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "vioip.settings",
            "VIOIP_LOCAL_DIR": str(tmp_path),
            **PRODUCTION_ENV,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_start(tmp_path):
    result = setup_process({}, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VIOIP_LOG_LEVEL", "verbose"),
        ("VIOIP_LOG_FORMAT", "xml"),
        ("VIOIP_SWITCH_INTERVAL", "abc"),
        ("VIOIP_SWITCH_INTERVAL", "0"),
        ("REDIS_URL", "notaurl"),
        ("REDIS_URL", "http://cache:6379/0"),
        ("VIOIP_HTTP_CONCURRENCY", "many"),
        ("VIOIP_DB_CONN_MAX_AGE", "-1"),
        # The embedded default is SQLite: a pool needs PostgreSQL.
        ("VIOIP_DB_POOL", "1"),
        ("VIOIP_DB_POOL_TIMEOUT_SECONDS", "0"),
        ("VIOIP_SSL_REDIRECT", "sometimes"),
    ],
)
def test_a_bad_value_stops_the_start_naming_its_variable(tmp_path, name, value):
    result = setup_process({name: value}, tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert name in last
    # The one error, not another one it caused or came from.
    assert result.stderr.count("Error:") + result.stderr.count("Exception:") == 0
    assert "During handling" not in result.stderr and "direct cause" not in result.stderr


def test_a_pool_and_kept_connections_exclude_each_other(tmp_path):
    result = setup_process(
        {
            "DATABASE_URL": "postgresql://vioip@127.0.0.1:5432/vioip",
            "VIOIP_DB_POOL": "1",
            "VIOIP_DB_CONN_MAX_AGE": "60",
        },
        tmp_path,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "VIOIP_DB_POOL" in last and "VIOIP_DB_CONN_MAX_AGE" in last, result.stderr


def test_a_url_with_a_password_is_not_repeated_in_the_message(tmp_path):
    result = setup_process({"REDIS_URL": "redis//:s3cret-pass@cache:6379/0"}, tmp_path)
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr
    assert "s3cret-pass" not in result.stderr


def test_a_good_redis_url_is_accepted(tmp_path):
    # Parsed only: nothing connects at start.
    result = setup_process({"REDIS_URL": "rediss://:pw@cache.internal:6380/2"}, tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "interval"),
    [
        # A room worker hands the GIL over sooner, so its loop gets it back from the
        # database threads; an HTTP worker keeps Python's own interval.
        ({"VIOIP_PROCESS_ROLE": "rooms"}, 0.0005),
        ({"VIOIP_PROCESS_ROLE": "all"}, 0.0005),
        ({"VIOIP_PROCESS_ROLE": "http"}, 0.005),
        ({"VIOIP_PROCESS_ROLE": "http", "VIOIP_SWITCH_INTERVAL": "0.001"}, 0.001),
    ],
)
def test_the_asgi_process_sets_its_roles_switch_interval(tmp_path, env, interval):
    result = setup_process(
        env, tmp_path, then="import sys, vioip.asgi; print(repr(sys.getswitchinterval()))"
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip().splitlines()[-1]) == pytest.approx(interval)
