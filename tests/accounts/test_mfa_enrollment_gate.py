"""VIOIP_MFA_REQUIRED_ROLES: a user of those roles without a second factor gets a token that
can only enrol one, read auth/me and log out; everything else is 403 ``mfa_required``,
rooms included (no ticket over REST, and a ticket bound to such a token opens no socket)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.urls import URLPattern, URLResolver, get_resolver

from sessions_app.rooms import tickets as room_tickets
from tests.accounts.mfa_helpers import STAFF, code_at, login
from tests.factories import UserFactory
from tests.rooms.conftest import open_socket
from vioip.accounts import mfa_apis
from vioip.accounts.apis import LogoutApi, LogoutEverywhereApi, MeApi
from vioip.accounts.mfa_gate import is_allowed
from vioip.accounts.models import AuthToken
from vioip.audit.models import AuditEvent

# The only views an enrolment-only token may call. A new view joins this list only on
# purpose: it must carry @enrollment_only_allowed, and this test names it.
ALLOWED = {
    MeApi,
    LogoutApi,
    LogoutEverywhereApi,
    mfa_apis.TotpBeginApi,
    mfa_apis.TotpConfirmApi,
    mfa_apis.WebAuthnRegisterBeginApi,
    mfa_apis.WebAuthnRegisterFinishApi,
}


def _views() -> set[type]:
    found: set[type] = set()

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None) or getattr(
                    pattern.callback, "view_class", None
                )
                if view is not None:
                    found.add(view)

    walk(get_resolver().url_patterns)
    return found


def test_exactly_the_enrolment_views_are_open_to_enrolment_only_tokens():
    assert {view for view in _views() if is_allowed(view)} == ALLOWED


def _enrolment_only_client(api: Any, username: str) -> Any:
    body = login(api, username).json()
    assert body["mfa_enrollment_required"] is True
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    return api


@pytest.mark.django_db
@pytest.mark.parametrize("role", STAFF)
def test_a_staff_login_without_a_factor_gives_an_enrolment_only_token(api, mfa_required, role):
    UserFactory(username="maria", role=role)
    response = login(api, "maria")
    assert response.status_code == 200
    assert response.json()["mfa_enrollment_required"] is True
    assert AuthToken.objects.get().mfa_enrollment_only
    event = AuditEvent.objects.get(action="login")
    assert event.detail == {"mfa_enrollment_required": True}


@pytest.mark.django_db
def test_a_role_outside_the_setting_gets_a_full_token(api, mfa_required):
    UserFactory(username="alex", role="patient")
    body = login(api, "alex").json()
    assert body["mfa_enrollment_required"] is False
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert api.get("/api/me/sessions/").status_code == 200


@pytest.mark.django_db
def test_with_the_setting_empty_staff_get_full_tokens(api, settings):
    settings.MFA_REQUIRED_ROLES = []
    UserFactory(username="maria", role="clinician")
    assert login(api, "maria").json()["mfa_enrollment_required"] is False


@pytest.mark.django_db
def test_the_enrolment_only_token_reads_me_and_is_refused_elsewhere(api, mfa_required, cast):
    client = _enrolment_only_client(api, cast.clinician.username)
    assert client.get("/api/auth/me/").status_code == 200
    for path in ("/api/cohorts/", "/api/notes/", "/api/auth/mfa/", "/api/me/sessions/"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert response.json() == {
            "code": "mfa_required",
            "detail": response.json()["detail"],
        }
    assert client.post(f"/api/cohorts/{cast.cohort.pk}/staff/", {}).status_code == 403


@pytest.mark.django_db
def test_the_enrolment_only_token_logs_out(api, mfa_required, cast):
    client = _enrolment_only_client(api, cast.clinician.username)
    assert client.post("/api/auth/logout/").status_code == 204
    assert client.get("/api/auth/me/").status_code == 401


@pytest.mark.django_db
def test_enrolling_turns_the_token_into_a_full_one_and_the_next_login_asks_for_it(
    api, mfa_required, cast, clock
):
    client = _enrolment_only_client(api, cast.clinician.username)
    secret = client.post("/api/auth/mfa/totp/").json()["secret"]
    confirmed = client.post("/api/auth/mfa/totp/confirm/", {"code": code_at(secret)})
    assert confirmed.status_code == 200
    assert client.get("/api/cohorts/").status_code == 200
    client.credentials()
    assert login(client, cast.clinician.username).json()["mfa_required"] is True


@pytest.mark.django_db
def test_no_room_ticket_for_an_enrolment_only_token(api, mfa_required, cast, live_session):
    client = _enrolment_only_client(api, cast.facilitator.username)
    response = client.post(f"/api/sessions/{live_session.pk}/ticket/")
    assert response.status_code == 403
    assert response.json()["code"] == "mfa_required"


@pytest.mark.django_db(transaction=True)
async def test_a_ticket_bound_to_an_enrolment_only_token_opens_no_socket(cast, live_session):
    def ticket() -> str:
        token = AuthToken.objects.create(
            digest="x" * 64,
            user=cast.facilitator,
            created_at=live_session.starts_at,
            last_used_at=live_session.starts_at,
            expires_at=live_session.ends_at,
            mfa_enrollment_only=True,
        )
        return room_tickets.ticket_issue(
            user=cast.facilitator, session=live_session, token=token
        ).raw

    socket = await open_socket(live_session.pk, await sync_to_async(ticket)())
    assert await socket.closed() == 4401
