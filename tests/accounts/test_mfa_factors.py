"""Listing and removing one's factors (with a fresh second factor) and an admin's reset."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.accounts.mfa_helpers import code_at, enrol_totp, login, verify
from tests.factories import UserFactory
from vioip.accounts.models import AuthToken, RecoveryCode, TotpDevice
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def _signed_in_with_totp(api, client_for, clock, username="maria"):
    """A user with TOTP and a client whose token came through the second step."""
    user = UserFactory(username=username, role="clinician")
    secret, codes = enrol_totp(client_for(user), clock)
    challenge = login(api, username).json()["challenge"]
    token = verify(api, challenge, code_at(secret)).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    clock.shift(dt.timedelta(seconds=30))
    return user, secret, codes


def test_the_list_shows_ones_own_factors_and_remaining_recovery_codes(api, client_for, clock):
    user, _, _ = _signed_in_with_totp(api, client_for, clock)
    UserFactory(username="other", role="clinician")
    enrol_totp(client_for(UserFactory(username="other")), clock)
    response = api.get("/api/auth/mfa/")
    assert response.status_code == 200
    body = response.json()
    device = TotpDevice.objects.get(user=user)
    assert [f["id"] for f in body["factors"]] == [f"totp-{device.pk}"]
    assert body["factors"][0]["kind"] == "totp"
    assert body["recovery_codes_remaining"] == 10
    assert "secret" not in str(body)


def test_the_list_needs_a_token(api):
    assert api.get("/api/auth/mfa/").status_code == 401


def test_removal_right_after_the_second_step_needs_no_code(api, client_for, clock):
    user, _, _ = _signed_in_with_totp(api, client_for, clock)
    device = TotpDevice.objects.get(user=user)
    response = api.delete(f"/api/auth/mfa/totp-{device.pk}/")
    assert response.status_code == 204
    assert not TotpDevice.objects.filter(user=user).exists()
    # The last factor gone, its recovery codes go too, and the password alone signs in.
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert "token" in login(api, "maria").json()
    event = AuditEvent.objects.get(action="delete", object_type="mfa_totp")
    assert event.actor_id == user.pk


def test_removal_later_needs_a_current_code(api, client_for, clock):
    user, secret, _ = _signed_in_with_totp(api, client_for, clock)
    device = TotpDevice.objects.get(user=user)
    clock.shift(dt.timedelta(minutes=6))
    without = api.delete(f"/api/auth/mfa/totp-{device.pk}/")
    assert without.status_code == 400
    assert "code" in without.json()["fields"]
    wrong = "000000" if code_at(secret) != "000000" else "111111"
    assert api.delete(f"/api/auth/mfa/totp-{device.pk}/", {"code": wrong}).status_code == 400
    assert TotpDevice.objects.filter(user=user).exists()
    assert AuditEvent.objects.filter(action="login_failed", detail__stage="removal").exists()
    ok = api.delete(f"/api/auth/mfa/totp-{device.pk}/", {"code": code_at(secret)})
    assert ok.status_code == 204


def test_a_token_that_never_proved_a_factor_needs_a_code(client_for, clock):
    user = UserFactory(role="clinician")
    client = client_for(user)
    enrol_totp(client, clock)
    clock.shift(dt.timedelta(minutes=6))
    device = TotpDevice.objects.get(user=user)
    assert client.delete(f"/api/auth/mfa/totp-{device.pk}/").status_code == 400


def test_another_users_factor_is_not_found(api, client_for, clock):
    _signed_in_with_totp(api, client_for, clock)
    other = UserFactory(username="other", role="clinician")
    enrol_totp(client_for(other), clock)
    device = TotpDevice.objects.get(user=other)
    assert api.delete(f"/api/auth/mfa/totp-{device.pk}/").status_code == 404
    assert api.delete("/api/auth/mfa/passkey-999999/").status_code == 404
    assert api.delete("/api/auth/mfa/nonsense/").status_code == 404
    assert TotpDevice.objects.filter(user=other).exists()


def test_admin_resets_a_users_factors_and_ends_their_sessions(api, client_for, clock, cast):
    user, _, _ = _signed_in_with_totp(api, client_for, clock)
    response = client_for(cast.admin).post(f"/api/users/{user.pk}/mfa/reset/")
    assert response.status_code == 200
    assert response.json() == {"factors_removed": 1}
    assert not TotpDevice.objects.filter(user=user).exists()
    assert not RecoveryCode.objects.filter(user=user).exists()
    assert not AuthToken.objects.filter(user=user, revoked_at__isnull=True).exists()
    assert api.get("/api/auth/me/").status_code == 401
    event = AuditEvent.objects.get(action="update", detail__change="mfa_reset")
    assert (event.actor_id, event.object_id) == (cast.admin.pk, str(user.pk))
    assert "token" in login(api, "maria").json()


@pytest.mark.parametrize(
    "role", ["patient", "facilitator", "clinician", "other_clinician", "auditor", "outsider"]
)
def test_only_admins_reset_factors(api, client_for, clock, cast, role):
    user, _, _ = _signed_in_with_totp(api, client_for, clock)
    response = client_for(getattr(cast, role)).post(f"/api/users/{user.pk}/mfa/reset/")
    assert response.status_code == 403
    assert TotpDevice.objects.filter(user=user).exists()


def test_anonymous_reset_is_401(api, cast):
    assert api.post(f"/api/users/{cast.clinician.pk}/mfa/reset/").status_code == 401


def test_an_admin_cannot_reset_their_own_factors(client_for, clock, cast):
    client = client_for(cast.admin)
    enrol_totp(client, clock)
    response = client.post(f"/api/users/{cast.admin.pk}/mfa/reset/")
    assert response.status_code == 400
    assert TotpDevice.objects.filter(user=cast.admin).exists()


def test_adding_a_factor_to_an_account_with_one_needs_a_fresh_second_factor(api, client_for, clock):
    # A token that never proved the factor (or proved it long ago) cannot plant another.
    user = UserFactory(username="maria", role="clinician")
    old = client_for(user)
    enrol_totp(old, clock)
    clock.shift(dt.timedelta(minutes=6))
    assert old.post("/api/auth/mfa/webauthn/register/begin/").status_code == 400
    # Right after a login completed with the factor, it can.
    secret = TotpDevice.objects.get(user=user).secret
    challenge = login(api, "maria").json()["challenge"]
    token = verify(api, challenge, code_at(secret)).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.post("/api/auth/mfa/webauthn/register/begin/").status_code == 200
    clock.shift(dt.timedelta(minutes=6))
    assert api.post("/api/auth/mfa/webauthn/register/begin/").status_code == 400
