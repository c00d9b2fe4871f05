import datetime as dt
from unittest.mock import patch

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import PASSWORD, UserFactory
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def login(api, username, password=PASSWORD, **extra):
    return api.post(
        "/api/auth/login/", {"username": username, "password": password}, format="json", **extra
    )


def test_login_returns_token_expiry_and_user(api):
    user = UserFactory(username="maria", role="facilitator")
    response = login(api, "maria")
    assert response.status_code == 200
    body = response.json()
    assert len(body["token"]) >= 40
    assert body["user"] == {
        "id": user.pk,
        "username": "maria",
        "role": "facilitator",
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "display_name": user.display_name,
    }
    assert body["expires_at"]


def test_me_answers_the_caller_and_logout_revokes_the_token(api):
    UserFactory(username="maria", role="clinician")
    token = login(api, "maria").json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/auth/me/").json()["username"] == "maria"
    assert api.post("/api/auth/logout/").status_code == 204
    assert api.get("/api/auth/me/").status_code == 401


def test_token_is_stored_hashed(api):
    UserFactory(username="maria")
    token = login(api, "maria").json()["token"]
    from vioip.accounts.models import AuthToken

    assert not AuthToken.objects.filter(digest=token).exists()
    assert AuthToken.objects.count() == 1


def test_wrong_password_and_unknown_user_get_the_same_answer(api):
    UserFactory(username="maria")
    wrong_password = login(api, "maria", "not-the-password")
    unknown_user = login(api, "nobody", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json()


def test_missing_fields_are_field_errors(api):
    response = api.post("/api/auth/login/", {"username": "x"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]


def test_repeated_failures_for_one_username_from_one_address_are_throttled(api, settings):
    UserFactory(username="maria")
    for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
        assert login(api, "maria", "wrong-password").status_code == 401
    # Even the right password is refused from that address, with when to come back.
    refused = login(api, "maria")
    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= settings.LOGIN_FAILURE_WINDOW_MINUTES * 60
    assert AuditEvent.objects.filter(action="login_failed").count() == (
        settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS
    )
    assert AuditEvent.objects.filter(action="login_throttled", outcome="denied").count() == 1
    # The owner, from their own address, is not locked out by someone else's guesses.
    assert login(api, "maria", REMOTE_ADDR="10.0.0.9").status_code == 200


def test_repeated_failures_from_one_address_are_throttled(api, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    for n in range(3):
        login(api, f"nobody{n}", "wrong-password")
    UserFactory(username="maria")
    assert login(api, "maria").status_code == 429
    other_address = login(api, "maria", REMOTE_ADDR="10.0.0.9")
    assert other_address.status_code == 200


def test_logins_and_failures_are_audited_without_passwords(api):
    user = UserFactory(username="maria")
    login(api, "maria")
    login(api, "maria", "wrong-password-123")
    ok = AuditEvent.objects.get(action="login")
    failed = AuditEvent.objects.get(action="login_failed")
    assert ok.actor_id == user.pk and ok.outcome == "allowed" and ok.client_address
    assert failed.outcome == "denied"
    assert "wrong-password-123" not in str(failed.detail)


def test_logout_everywhere_revokes_every_token_of_the_caller_only(api, client_for):
    maria = UserFactory(username="maria")
    other = UserFactory(username="other")
    phone, laptop = APIClient(), APIClient()
    for client in (phone, laptop):
        token = login(client, "maria").json()["token"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    bystander = client_for(other)
    with patch("vioip.accounts.services.access_changed") as access_changed:
        assert phone.post("/api/auth/logout-everywhere/").status_code == 204
    access_changed.assert_called_once_with(user_ids=[maria.pk], reason="logout_everywhere")
    assert phone.get("/api/auth/me/").status_code == 401
    assert laptop.get("/api/auth/me/").status_code == 401
    assert bystander.get("/api/auth/me/").status_code == 200
    event = AuditEvent.objects.get(action="logout")
    assert event.actor_id == maria.pk
    assert event.detail["everywhere"] is True


def test_logout_everywhere_needs_a_token(api):
    response = api.post("/api/auth/logout-everywhere/")
    assert response.status_code == 401
    assert not AuditEvent.objects.filter(action="logout").exists()


def test_token_expires_after_idle_period(api, settings):
    UserFactory(username="maria")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = login(api, "maria").json()["token"]
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        traveller.shift(dt.timedelta(minutes=settings.TOKEN_IDLE_MINUTES - 1))
        assert api.get("/api/auth/me/").status_code == 200
        # Use extended the idle clock: another almost-full idle period is fine.
        traveller.shift(dt.timedelta(minutes=settings.TOKEN_IDLE_MINUTES - 1))
        assert api.get("/api/auth/me/").status_code == 200
        traveller.shift(dt.timedelta(minutes=settings.TOKEN_IDLE_MINUTES + 1))
        assert api.get("/api/auth/me/").status_code == 401


def test_token_expires_after_absolute_lifetime_even_when_used(api, settings):
    UserFactory(username="maria")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        token = login(api, "maria").json()["token"]
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        steps = settings.TOKEN_MAX_HOURS * 60 // 10
        for _ in range(steps - 1):
            traveller.shift(dt.timedelta(minutes=10))
            assert api.get("/api/auth/me/").status_code == 200
        traveller.shift(dt.timedelta(minutes=11))
        assert api.get("/api/auth/me/").status_code == 401


def test_unauthenticated_requests_get_401_with_json_body(api):
    response = api.get("/api/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Bearer"


def test_garbage_token_gets_401(api):
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert api.get("/api/auth/me/").status_code == 401


def test_schema_documents_logout_everywhere_and_the_throttled_login(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    assert "204" in paths["/api/auth/logout-everywhere/"]["post"]["responses"]
    assert "429" in paths["/api/auth/login/"]["post"]["responses"]


def test_schema_and_docs_need_no_token(api):
    assert api.get("/api/schema/").status_code == 200
    assert api.get("/api/docs/").status_code == 200


def test_a_login_without_second_factor_rules_says_the_token_is_a_full_one(api):
    UserFactory(username="maria", role="clinician")
    assert login(api, "maria").json()["mfa_enrollment_required"] is False


def test_schema_documents_the_second_factor_endpoints(api):
    paths = api.get("/api/schema/?format=json").json()["paths"]
    for path in (
        "/api/auth/mfa/totp/",
        "/api/auth/mfa/totp/confirm/",
        "/api/auth/mfa/verify/",
        "/api/auth/mfa/webauthn/register/begin/",
        "/api/auth/mfa/webauthn/register/finish/",
        "/api/auth/mfa/webauthn/verify/begin/",
        "/api/auth/mfa/webauthn/verify/finish/",
        "/api/users/{id}/mfa/reset/",
    ):
        assert "post" in paths[path], path
    assert "get" in paths["/api/auth/mfa/"]
    assert "delete" in paths["/api/auth/mfa/{factor_id}/"]
    login_200 = paths["/api/auth/login/"]["post"]["responses"]["200"]
    assert "oneOf" in str(login_200) or "LoginResult" in str(login_200)
