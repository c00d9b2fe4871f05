"""VIOIP_MFA_REQUIRED_ROLES: every staff role outside debug, none on the embedded default,
and a role name that does not exist stops the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "VIOIP_SECRET_KEY": "a-production-like-secret-" + "x" * 40,
    "VIOIP_FIELD_KEYS": "Lp0Qm7z8Qh2l4dKXqVbJ5m8m2QfS3wM0sX1rJ8pWm1Y=",
    "VIOIP_AUDIT_KEY": "a-production-like-audit-key-0123456789",
    "VIOIP_ALLOWED_HOSTS": "vioip.example.org",
}
PRINT = "from django.conf import settings; print(','.join(settings.MFA_REQUIRED_ROLES))"


def _shell(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT],
        cwd=ROOT,
        env={**base, "VIOIP_LOCAL_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (PRODUCTION_ENV, "admin,auditor,clinician,facilitator"),
        ({"VIOIP_DEBUG": "1"}, ""),
        ({**PRODUCTION_ENV, "VIOIP_MFA_REQUIRED_ROLES": "admin, clinician"}, "admin,clinician"),
        ({**PRODUCTION_ENV, "VIOIP_MFA_REQUIRED_ROLES": ""}, ""),
    ],
    ids=["production-default", "embedded-default", "chosen", "none"],
)
def test_required_roles(tmp_path, env, expected):
    result = _shell(env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1:] == ([expected] if expected else [])


def test_an_unknown_role_stops_the_process(tmp_path):
    result = _shell({**PRODUCTION_ENV, "VIOIP_MFA_REQUIRED_ROLES": "admin,doctor"}, tmp_path)
    assert result.returncode != 0
    assert "VIOIP_MFA_REQUIRED_ROLES names unknown roles: ['doctor']" in result.stderr
