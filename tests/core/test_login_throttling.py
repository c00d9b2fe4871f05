"""Login throttling: tight per (username, address) and per address, loose and short per
username, never an oracle, and ``manage.py unlock_user``."""

import datetime as dt

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from tests.accounts.mfa_helpers import code_at, enrol_totp
from tests.factories import PASSWORD, UserFactory
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def login(api, username, password=PASSWORD, address="192.0.2.10"):
    return api.post(
        "/api/auth/login/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


@pytest.fixture
def clock():
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def test_throttled_answer_is_429_with_retry_after_and_the_standard_body(api, settings, clock):
    settings.LOGIN_FAILURE_WINDOW_MINUTES = 15
    UserFactory(username="maria")
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
        assert login(api, "maria", "wrong-password").status_code == 401
    clock.shift(dt.timedelta(minutes=5))
    refused = login(api, "maria")
    assert refused.status_code == 429
    assert refused["Retry-After"] == str(10 * 60)
    assert set(refused.json()) == {"code", "detail"}
    assert refused.json()["code"] == "throttled"


def test_a_refused_attempt_is_not_checked_against_the_password(api, settings):
    UserFactory(username="maria")
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
        login(api, "maria", "wrong-password")
    right, wrong = login(api, "maria"), login(api, "maria", "wrong-password")
    assert right.status_code == wrong.status_code == 429
    assert right.json() == wrong.json()
    assert right["Retry-After"] == wrong["Retry-After"]
    assert not AuditEvent.objects.filter(action="login").exists()


def test_refused_attempts_do_not_extend_the_window(api, settings, clock):
    UserFactory(username="maria")
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
        login(api, "maria", "wrong-password")
    for _ in range(10):
        clock.shift(dt.timedelta(minutes=1))
        assert login(api, "maria", "wrong-password").status_code == 429
    clock.shift(dt.timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES - 10, seconds=1))
    assert login(api, "maria").status_code == 200


def test_one_address_spraying_names_is_throttled_for_every_name(api, settings):
    UserFactory(username="maria")
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        assert login(api, f"nobody{n}", "wrong-password").status_code == 401
    assert login(api, "maria").status_code == 429
    assert login(api, "someone-else", "wrong-password").status_code == 429
    # Another address is not affected.
    assert login(api, "maria", address="192.0.2.99").status_code == 200


def test_failures_from_many_addresses_only_delay_the_username_briefly(api, settings, clock):
    settings.LOGIN_FAILURES_PER_USERNAME = 10
    settings.LOGIN_USERNAME_DELAY_SECONDS = 2
    settings.LOGIN_USERNAME_DELAY_MAX_SECONDS = 60
    UserFactory(username="maria")
    # One failure from each of ten addresses: no (username, address) limit is reached.
    for n in range(9):
        assert login(api, "maria", "wrong-password", address=f"198.51.100.{n}").status_code == 401
    assert login(api, "maria", address="203.0.113.1").status_code == 200
    # A success clears the username's count; start again.
    for n in range(10):
        assert login(api, "maria", "wrong-password", address=f"198.51.100.{n}").status_code == 401
    refused = login(api, "maria", address="203.0.113.1")
    assert refused.status_code == 429
    assert refused["Retry-After"] == "2"
    clock.shift(dt.timedelta(seconds=2))
    # The delay grows with each further failure...
    assert login(api, "maria", "wrong-password", address="198.51.100.20").status_code == 401
    assert login(api, "maria", address="203.0.113.1")["Retry-After"] == "4"
    clock.shift(dt.timedelta(seconds=4))
    assert login(api, "maria", "wrong-password", address="198.51.100.21").status_code == 401
    assert login(api, "maria", address="203.0.113.1")["Retry-After"] == "8"
    # ...and once it has passed, the right password from the owner's address gets in.
    clock.shift(dt.timedelta(seconds=8))
    assert login(api, "maria", address="203.0.113.1").status_code == 200


def test_the_username_delay_is_capped(api, settings, clock):
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    settings.LOGIN_USERNAME_DELAY_SECONDS = 1
    settings.LOGIN_USERNAME_DELAY_MAX_SECONDS = 5
    UserFactory(username="maria")
    for n in range(12):
        clock.shift(dt.timedelta(seconds=6))
        assert login(api, "maria", "wrong-password", address=f"198.51.100.{n}").status_code == 401
    refused = login(api, "maria", address="203.0.113.1")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == 5
    clock.shift(dt.timedelta(seconds=5))
    assert login(api, "maria", address="203.0.113.1").status_code == 200


def test_unlock_user_clears_the_username_counters_of_every_address(api, settings):
    maria = UserFactory(username="maria")
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    settings.LOGIN_USERNAME_DELAY_MAX_SECONDS = 600
    for address in ("192.0.2.10", "192.0.2.11"):
        for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
            login(api, "maria", "wrong-password", address=address)
    assert login(api, "maria", address="192.0.2.10").status_code == 429
    assert login(api, "maria", address="192.0.2.12").status_code == 429  # username delay
    call_command("unlock_user", "maria")
    event = AuditEvent.objects.get(action="update", object_type="user")
    assert event.actor_id is None
    assert event.object_id == str(maria.pk)
    assert event.detail == {"change": "unlock"}
    assert login(api, "maria", address="192.0.2.10").status_code == 200
    assert login(api, "maria", address="192.0.2.11").status_code == 200
    # Counting per (username, address) starts afresh after the unlock.
    settings.LOGIN_FAILURES_PER_USERNAME = 100
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
        assert login(api, "maria", "wrong-password", address="192.0.2.10").status_code == 401
    assert login(api, "maria", address="192.0.2.10").status_code == 429


def test_unlock_user_leaves_an_address_limit_in_place(api, settings):
    UserFactory(username="maria")
    for n in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        login(api, f"nobody{n}", "wrong-password")
    call_command("unlock_user", "maria")
    assert login(api, "maria").status_code == 429


def test_unlock_user_of_an_unknown_username_fails_and_writes_nothing():
    with pytest.raises(CommandError):
        call_command("unlock_user", "nobody")
    assert not AuditEvent.objects.exists()


# --- Second factors count toward the same limits ----------------------------------------------


def _mfa_user(client_for, clock_tm):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock_tm)
    return secret


def _wrong(secret):
    return "000000" if code_at(secret) != "000000" else "111111"


def _verify(api, challenge, code, address="192.0.2.10"):
    return api.post(
        "/api/auth/mfa/verify/",
        {"challenge": challenge, "code": code},
        format="json",
        REMOTE_ADDR=address,
    )


def test_wrong_second_factors_are_throttled_like_wrong_passwords(api, settings, clock, client_for):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 3
    secret = _mfa_user(client_for, clock)
    challenge = login(api, "maria").json()["challenge"]
    for _ in range(3):
        assert _verify(api, challenge, _wrong(secret)).status_code == 400
    refused = _verify(
        api, login(api, "maria", address="192.0.2.99").json()["challenge"], code_at(secret)
    )
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    assert login(api, "maria").status_code == 429
    # The refused right code was not spent: once the window is over it still works.
    clock.shift(dt.timedelta(minutes=settings.LOGIN_FAILURE_WINDOW_MINUTES, seconds=1))
    challenge = login(api, "maria").json()["challenge"]
    assert _verify(api, challenge, code_at(secret)).status_code == 200


def test_the_right_password_does_not_buy_more_second_factor_guesses(
    api, settings, clock, client_for
):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 4
    secret = _mfa_user(client_for, clock)
    for _ in range(2):
        challenge = login(api, "maria").json()["challenge"]
        assert _verify(api, challenge, _wrong(secret)).status_code == 400
        assert _verify(api, challenge, _wrong(secret)).status_code == 400
    assert login(api, "maria").status_code == 429


def test_a_completed_second_step_clears_the_usernames_counters(api, settings, clock, client_for):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 3
    secret = _mfa_user(client_for, clock)
    challenge = login(api, "maria").json()["challenge"]
    assert _verify(api, challenge, _wrong(secret)).status_code == 400
    assert _verify(api, challenge, _wrong(secret)).status_code == 400
    assert _verify(api, challenge, code_at(secret)).status_code == 200
    clock.shift(dt.timedelta(seconds=30))
    challenge = login(api, "maria").json()["challenge"]
    assert _verify(api, challenge, _wrong(secret)).status_code == 400
    assert _verify(api, challenge, _wrong(secret)).status_code == 400
    assert _verify(api, challenge, code_at(secret)).status_code == 200
