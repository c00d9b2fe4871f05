"""A fresh install's first admin, made with ``createsuperuser``, starts the audit trail:
``verify_audit`` holds from the first user on."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from vioip.accounts.models import Role, User
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_createsuperuser_is_audited_and_the_trail_verifies(capsys: pytest.CaptureFixture[str]):
    assert not AuditEvent.objects.exists()

    call_command(
        "createsuperuser", interactive=False, username="first.admin", email="a@example.org"
    )

    admin = User.objects.get(username="first.admin")
    assert admin.role == Role.ADMIN
    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.object_id) == ("create", "user", str(admin.pk))
    assert event.actor_id is None
    call_command("verify_audit")
    assert "intact: 1 events" in capsys.readouterr().out


def test_a_refused_createsuperuser_writes_nothing():
    call_command(
        "createsuperuser", interactive=False, username="first.admin", email="a@example.org"
    )
    with pytest.raises(CommandError, match="already taken"):
        call_command(
            "createsuperuser", interactive=False, username="first.admin", email="b@example.org"
        )
    assert AuditEvent.objects.count() == 1
