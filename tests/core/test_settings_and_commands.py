import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from vioip.accounts.models import User

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "VIOIP_SECRET_KEY": "a-production-like-secret-" + "x" * 40,
    "VIOIP_FIELD_KEYS": "Lp0Qm7z8Qh2l4dKXqVbJ5m8m2QfS3wM0sX1rJ8pWm1Y=",
    "VIOIP_AUDIT_KEY": "a-production-like-audit-key-0123456789",
    "VIOIP_ALLOWED_HOSTS": "vioip.example.org",
}


def manage(*args, env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIOIP_")}
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_server_refuses_to_start_without_a_secret_key_outside_debug(tmp_path):
    result = manage("check", env={"VIOIP_LOCAL_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "VIOIP_SECRET_KEY is not set" in result.stderr


def test_a_bad_boolean_stops_the_process_with_a_clear_message(tmp_path):
    result = manage(
        "check", env={**PRODUCTION_ENV, "VIOIP_DEBUG": "maybe", "VIOIP_LOCAL_DIR": str(tmp_path)}
    )
    assert result.returncode != 0
    assert "VIOIP_DEBUG must be one of" in result.stderr


def test_a_bad_field_key_stops_the_process(tmp_path):
    env = {**PRODUCTION_ENV, "VIOIP_FIELD_KEYS": "not-a-key", "VIOIP_LOCAL_DIR": str(tmp_path)}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "VIOIP_FIELD_KEYS" in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION_ENV, "VIOIP_LOCAL_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_default_generates_local_keys_once(tmp_path):
    result = manage("check", env={"VIOIP_DEBUG": "1", "VIOIP_LOCAL_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    keys = {
        name: (tmp_path / name).read_text() for name in ("secret_key", "field.key", "audit.key")
    }
    manage("check", env={"VIOIP_DEBUG": "1", "VIOIP_LOCAL_DIR": str(tmp_path)})
    assert keys == {name: (tmp_path / name).read_text() for name in keys}
    assert oct((tmp_path / "field.key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="VIOIP_DEBUG"):
        call_command("seed_demo")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_seed_demo_creates_demo_logins_once(settings, capsys):
    settings.DEBUG = True
    call_command("seed_demo")
    output = capsys.readouterr().out
    assert "demo-vioip-2026" in output and "dr.chen" in output
    count = User.objects.count()
    assert User.objects.filter(role="patient").count() >= 12
    assert {"admin", "auditor", "facilitator", "clinician"} <= set(
        User.objects.values_list("role", flat=True)
    )
    call_command("seed_demo")
    assert User.objects.count() == count


@pytest.mark.django_db
def test_superuser_created_without_input_is_an_admin(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-enough-passphrase-42")
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root.admin")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.org")
    call_command("createsuperuser", interactive=False, verbosity=0)
    assert User.objects.get(username="root.admin").role == "admin"
