"""docker-compose.yml as data: a service's environment with the file's own defaults, for
tests that start vioip the way the compose file does (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::-(?P<default>[^}]*))?\}")

# Test-only secret values (the same as pyproject.toml's pytest-env ones).
TEST_SECRETS = {
    "secret_key": "test-only-secret-key-not-for-production-0123456789abcdef",
    "field_keys": "Lp0Qm7z8Qh2l4dKXqVbJ5m8m2QfS3wM0sX1rJ8pWm1Y=",
    "audit_key": "test-only-audit-key-0123456789abcdef0123456789",
}


def _interpolate(value: Any) -> Any:
    """``${NAME:-default}`` as compose reads it when NAME is not set (the file's defaults)."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: m.group("default") or "", value)
    if isinstance(value, list):
        return [_interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: _interpolate(item) for key, item in value.items()}
    return value


def load() -> dict[str, Any]:
    return dict(_interpolate(yaml.safe_load(COMPOSE_FILE.read_text())))


def service_env(
    compose: dict[str, Any], service: str, *, database_url: str, redis_url: str | None
) -> dict[str, str]:
    """The process environment of ``service`` as compose gives it, with its secrets in
    temporary files and the database (and Redis, if any) pointed at this test's own."""
    declared = {str(k): str(v) for k, v in compose["services"][service]["environment"].items()}
    secrets_dir = Path(tempfile.mkdtemp(prefix="vioip-compose-secrets-"))
    values = {**TEST_SECRETS, "database_url": database_url}
    for name in compose["services"][service].get("secrets", []):
        (secrets_dir / name).write_text(values[name] + "\n")
    env = {
        key: value.replace("/run/secrets/", f"{secrets_dir}/") if key.endswith("_FILE") else value
        for key, value in declared.items()
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env.pop("REDIS_URL", None)  # the embedded in-memory layer
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIOIP_", "DATABASE_URL", "REDIS_URL"))
    }
    if "VIOIP_LOCAL_DIR" in os.environ:
        base["VIOIP_LOCAL_DIR"] = os.environ["VIOIP_LOCAL_DIR"]
    return {**base, "DJANGO_SETTINGS_MODULE": "vioip.settings", **env}
