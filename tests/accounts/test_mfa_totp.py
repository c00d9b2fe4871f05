"""TOTP with recovery codes: enrolment, the two-step login, challenges, replay and drift."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.db import connection

from tests.accounts.mfa_helpers import code_at, enrol_totp, login, verify
from tests.factories import UserFactory
from vioip.accounts.models import RecoveryCode, TotpDevice
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_enrolment_gives_an_rfc6238_secret_and_uri_that_is_not_active_yet(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    response = client_for(user).post("/api/auth/mfa/totp/")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"secret", "otpauth_uri"}
    uri = urlsplit(body["otpauth_uri"])
    assert uri.scheme == "otpauth" and uri.netloc == "totp"
    assert uri.path == "/vioip:maria"
    query = parse_qs(uri.query)
    assert query["issuer"] == ["vioip"]
    assert query["secret"] == [body["secret"]]
    parsed = pyotp.parse_uri(body["otpauth_uri"])
    assert (parsed.digits, parsed.interval, parsed.digest().name) == (6, 30, "sha1")
    # Nothing is active until confirmed: the password alone still signs in.
    assert "token" in login(api, "maria").json()


def test_the_secret_is_stored_encrypted(client_for, clock):
    user = UserFactory(role="clinician")
    secret = client_for(user).post("/api/auth/mfa/totp/").json()["secret"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM accounts_totpdevice")
        (stored,) = cursor.fetchone()
    assert secret not in stored
    assert stored.startswith("fernet:")


def test_confirmation_with_a_wrong_code_is_400_and_activates_nothing(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    client = client_for(user)
    secret = client.post("/api/auth/mfa/totp/").json()["secret"]
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    response = client.post("/api/auth/mfa/totp/confirm/", {"code": wrong}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "code" in response.json()["fields"]
    assert not TotpDevice.objects.filter(confirmed_at__isnull=False).exists()
    assert not RecoveryCode.objects.exists()
    assert "token" in login(api, "maria").json()


def test_confirmation_without_a_code_is_a_field_error(client_for, clock):
    client = client_for(UserFactory(role="clinician"))
    client.post("/api/auth/mfa/totp/")
    response = client.post("/api/auth/mfa/totp/confirm/", {}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()["fields"]


def test_confirmation_gives_ten_single_use_recovery_codes_stored_hashed(client_for, clock):
    user = UserFactory(role="clinician")
    _, codes = enrol_totp(client_for(user), clock)
    assert len(codes) == len(set(codes)) == 10
    stored = list(RecoveryCode.objects.filter(user=user).values_list("digest", flat=True))
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert not any(code.replace("-", "") in digest for code in codes for digest in stored)


def test_a_second_authenticator_app_is_refused_while_one_is_active(client_for, clock):
    client = client_for(UserFactory(role="clinician"))
    enrol_totp(client, clock)
    response = client.post("/api/auth/mfa/totp/")
    assert response.status_code == 400


def test_login_with_a_factor_answers_a_challenge_and_no_token(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    enrol_totp(client_for(user), clock)
    response = login(api, "maria")
    assert response.status_code == 200
    body = response.json()
    assert body["mfa_required"] is True
    assert body["methods"] == ["totp", "recovery_code"]
    assert len(body["challenge"]) >= 40
    assert "token" not in body


def test_the_right_code_gives_a_token_shaped_like_a_login(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    response = verify(api, challenge, code_at(secret))
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {
        "token",
        "expires_at",
        "absolute_expires_at",
        "mfa_enrollment_required",
        "user",
    }
    assert body["mfa_enrollment_required"] is False
    assert body["user"]["username"] == "maria"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/auth/me/").status_code == 200
    assert api.get("/api/cohorts/").status_code == 200


def test_a_code_is_accepted_once(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    code = code_at(secret)
    assert verify(api, login(api, "maria").json()["challenge"], code).status_code == 200
    replay = verify(api, login(api, "maria").json()["challenge"], code)
    assert replay.status_code == 400
    assert "code" in replay.json()["fields"]


def test_a_code_of_an_earlier_step_than_the_last_accepted_is_refused(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    assert (
        verify(api, login(api, "maria").json()["challenge"], code_at(secret, 1)).status_code == 200
    )
    # The current step is within the drift window but older than the accepted one.
    refused = verify(api, login(api, "maria").json()["challenge"], code_at(secret))
    assert refused.status_code == 400


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_clock_drift_is_accepted(api, client_for, clock, offset):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    clock.shift(dt.timedelta(seconds=60))
    challenge = login(api, "maria").json()["challenge"]
    assert verify(api, challenge, code_at(secret, offset)).status_code == 200


@pytest.mark.parametrize("offset", [-2, 2])
def test_two_steps_of_drift_are_refused(api, client_for, clock, offset):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    clock.shift(dt.timedelta(seconds=90))
    challenge = login(api, "maria").json()["challenge"]
    assert verify(api, challenge, code_at(secret, offset)).status_code == 400


def test_a_recovery_code_works_once(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    _, codes = enrol_totp(client_for(user), clock)
    first = verify(api, login(api, "maria").json()["challenge"], codes[0].upper())
    assert first.status_code == 200
    again = verify(api, login(api, "maria").json()["challenge"], codes[0])
    assert again.status_code == 400
    assert RecoveryCode.objects.filter(user=user, used_at__isnull=False).count() == 1


def test_a_challenge_is_spent_by_its_login(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    assert verify(api, challenge, code_at(secret)).status_code == 200
    clock.shift(dt.timedelta(seconds=30))
    again = verify(api, challenge, code_at(secret))
    assert again.status_code == 400
    assert "challenge" in again.json()["fields"]


def test_a_challenge_lives_five_minutes(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    clock.shift(dt.timedelta(minutes=4, seconds=59))
    alive = login(api, "maria").json()["challenge"]
    clock.shift(dt.timedelta(seconds=2))
    expired = verify(api, challenge, code_at(secret))
    assert expired.status_code == 400
    assert "challenge" in expired.json()["fields"]
    assert verify(api, alive, code_at(secret)).status_code == 200


def test_a_challenge_dies_after_five_wrong_codes(api, client_for, clock, settings):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 50
    settings.LOGIN_FAILURES_PER_USERNAME = 50
    user = UserFactory(username="maria", role="clinician")
    secret, _ = enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    for _ in range(5):
        response = verify(api, challenge, wrong)
        assert response.status_code == 400
        assert "code" in response.json()["fields"]
    dead = verify(api, challenge, code_at(secret))
    assert dead.status_code == 400
    assert "challenge" in dead.json()["fields"]


def test_unknown_challenge_and_missing_fields_are_field_errors(api, clock):
    response = verify(api, "no-such-challenge", "123456")
    assert response.status_code == 400
    assert "challenge" in response.json()["fields"]
    missing = api.post("/api/auth/mfa/verify/", {}, format="json")
    assert missing.status_code == 400
    assert set(missing.json()["fields"]) == {"challenge", "code"}


def test_enrolment_use_and_failure_are_audited_without_secret_or_code(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    secret, codes = enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    verify(api, challenge, wrong)
    good = code_at(secret)
    verify(api, challenge, good)
    events = AuditEvent.objects.filter(actor=user)
    assert events.filter(action="create", object_type="mfa_totp").count() == 1
    assert events.filter(action="create", object_type="mfa_recovery_codes").count() == 1
    assert events.filter(action="login", detail__mfa="totp").count() == 1
    failed = events.get(action="login_failed", outcome="denied")
    assert failed.detail == {"mfa": "code", "stage": "login"}
    written = str(list(AuditEvent.objects.values_list("object_id", "detail")))
    for secret_text in [secret, good, wrong, *codes]:
        assert secret_text not in written
