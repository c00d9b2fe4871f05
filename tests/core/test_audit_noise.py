"""Unidentified failures reach the audit trail coalesced per address and minute, with their
count; typed usernames never reach it as text."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from tests.factories import PASSWORD, UserFactory
from vioip.audit import noise
from vioip.audit.models import AuditEvent
from vioip.audit.services import chain_verify

pytestmark = pytest.mark.django_db


WRONG = "wrong-" + "password"


def login(api, username, password=WRONG, address="203.0.113.7"):
    return api.post(
        "/api/auth/login/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def attempts_in_trail(action, address):
    """Attempts the trail accounts for: each event is one, plus the ones it says it held."""
    events = AuditEvent.objects.filter(action=action, client_address=address)
    held = sum(event.detail.get("suppressed", 0) for event in events)
    return events.count() - events.filter(detail__coalesced=True).count() + held


@pytest.fixture
def clock():
    # Start just after a minute boundary so the flood stays inside one minute.
    start = timezone.now().replace(second=1, microsecond=0) + dt.timedelta(minutes=1)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


def test_a_flood_of_bogus_logins_writes_a_handful_of_events_with_the_count(api, settings, clock):
    for n in range(400):
        assert login(api, f"bogus-{n}").status_code in (401, 429)
    assert AuditEvent.objects.count() <= 4
    clock.shift(dt.timedelta(seconds=61))
    noise.flush_due()
    assert AuditEvent.objects.count() <= 6
    failed = attempts_in_trail("login_failed", "203.0.113.7")
    throttled = attempts_in_trail("login_throttled", "203.0.113.7")
    assert failed == settings.LOGIN_FAILURES_PER_ADDRESS
    assert failed + throttled == 400
    assert chain_verify().intact


def test_the_held_count_is_written_by_the_next_failure_from_anywhere(api, clock):
    for n in range(7):
        login(api, f"bogus-{n}")
    assert AuditEvent.objects.count() == 1
    clock.shift(dt.timedelta(minutes=2))
    login(api, "someone", address="198.51.100.3")
    coalesced = AuditEvent.objects.get(detail__coalesced=True)
    assert coalesced.client_address == "203.0.113.7"
    assert coalesced.detail["suppressed"] == 6
    assert coalesced.action == "login_failed"
    assert AuditEvent.objects.filter(client_address="198.51.100.3").count() == 1


def test_each_address_is_coalesced_on_its_own(api, clock):
    for address in ("203.0.113.7", "203.0.113.8"):
        for n in range(3):
            login(api, f"bogus-{n}", address=address)
    assert AuditEvent.objects.count() == 2
    clock.shift(dt.timedelta(minutes=1))
    noise.flush_due()
    for address in ("203.0.113.7", "203.0.113.8"):
        assert attempts_in_trail("login_failed", address) == 3
    # Flushing again writes nothing twice.
    assert noise.flush_due() == 0


def test_an_unknown_username_is_kept_as_a_keyed_digest_never_as_text(api, clock):
    login(api, "correct horse battery staple")
    clock.shift(dt.timedelta(minutes=1))
    login(api, "Correct Horse Battery Staple ")
    events = list(AuditEvent.objects.filter(action="login_failed").order_by("seq"))
    assert len(events) == 2
    for event in events:
        assert "horse" not in str(event.detail).lower()
        assert event.actor_id is None
    first, second = (event.detail["username_digest"] for event in events)
    assert first == second  # repeats of the same name are visible
    assert len(first) == 24
    assert first == noise.typed_text_digest("correct horse battery staple")


def test_digest_is_keyed_by_the_audit_key(settings):
    before = noise.typed_text_digest("maria")
    settings.AUDIT_KEY = "another-audit-key-" + "x" * 32
    assert noise.typed_text_digest("maria") != before


def test_a_failed_login_of_a_known_account_names_the_account_and_no_typed_text(api):
    maria = UserFactory(username="maria")
    login(api, "maria", "wrong-password-123")
    login(api, "maria", "wrong-password-456")
    events = AuditEvent.objects.filter(action="login_failed")
    # Recorded per attempt against the account: "who tried to get into maria's account".
    assert events.count() == 2
    for event in events:
        assert event.actor_id == maria.pk
        assert event.object_type == "user" and event.object_id == str(maria.pk)
        assert event.outcome == "denied"
        assert "wrong-password" not in str(event.detail)
        assert "username_digest" not in event.detail


def test_spraying_a_known_account_is_bounded_by_the_throttle(api, settings, clock):
    UserFactory(username="maria")
    for _ in range(100):
        login(api, "maria")
    assert AuditEvent.objects.filter(action="login_failed").count() == (
        settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
    )
    assert AuditEvent.objects.filter(action="login_throttled").count() == 1
    clock.shift(dt.timedelta(minutes=1))
    noise.flush_due()
    assert attempts_in_trail("login_throttled", "203.0.113.7") == (
        100 - settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
    )


def test_a_successful_login_is_recorded_per_attempt(api):
    UserFactory(username="maria")
    for _ in range(3):
        assert login(api, "maria", PASSWORD).status_code == 200
    assert AuditEvent.objects.filter(action="login", outcome="allowed").count() == 3


def test_the_minute_sweep_writes_the_held_count_of_a_spray_that_stopped(api, clock):
    from io import StringIO

    from django.core.management import call_command

    for n in range(30):
        login(api, f"gone-{n}", address="198.51.100.4")
    before = attempts_in_trail("login_failed", "198.51.100.4") + attempts_in_trail(
        "login_throttled", "198.51.100.4"
    )
    assert before < 30
    clock.shift(dt.timedelta(seconds=61))
    out = StringIO()
    call_command("sweep_rooms", stdout=out)
    assert "coalesced audit event" in out.getvalue()
    after = attempts_in_trail("login_failed", "198.51.100.4") + attempts_in_trail(
        "login_throttled", "198.51.100.4"
    )
    assert after == 30
