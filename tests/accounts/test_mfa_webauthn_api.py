"""Passkey endpoints over the API (the real ceremony is in test_passkeys_browser.py): the
relying party, refused credentials, and what a refusal counts toward."""

from __future__ import annotations

import pytest

from tests.accounts.mfa_helpers import enrol_totp, login
from tests.factories import UserFactory
from vioip.accounts.models import WebAuthnCredential
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

BOGUS = {
    "id": "AAAA",
    "rawId": "AAAA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "attestationObject": "oA"},
}


def test_registration_options_name_the_relying_party_from_the_allowed_hosts(client_for, settings):
    settings.ALLOWED_HOSTS = ["*.example.org", "10.0.0.5", "[::1]", "vioip.example.org"]
    user = UserFactory(username="maria", role="clinician")
    response = client_for(user).post(
        "/api/auth/mfa/webauthn/register/begin/", HTTP_HOST="vioip.example.org"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rp"] == {"id": "vioip.example.org", "name": "vioip"}
    assert body["user"]["name"] == "maria"
    assert len(body["challenge"]) >= 43


def test_the_rp_id_setting_wins(client_for, settings):
    settings.WEBAUTHN_RP_ID = "example.org"
    response = client_for(UserFactory(role="clinician")).post(
        "/api/auth/mfa/webauthn/register/begin/"
    )
    assert response.json()["rp"]["id"] == "example.org"


def test_without_a_domain_passkeys_are_unavailable(client_for, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBAUTHN_RP_ID = ""
    client = client_for(UserFactory(role="clinician"))
    response = client.post("/api/auth/mfa/webauthn/register/begin/", HTTP_HOST="127.0.0.1")
    assert response.status_code == 409


def test_finish_without_begin_is_400_and_keeps_nothing(client_for):
    client = client_for(UserFactory(role="clinician"))
    response = client.post("/api/auth/mfa/webauthn/register/finish/", {"credential": BOGUS})
    assert response.status_code == 400
    assert not WebAuthnCredential.objects.exists()


def test_a_bogus_credential_is_400_audited_and_spends_the_registration(client_for):
    user = UserFactory(role="clinician")
    client = client_for(user)
    client.post("/api/auth/mfa/webauthn/register/begin/")
    response = client.post("/api/auth/mfa/webauthn/register/finish/", {"credential": BOGUS})
    assert response.status_code == 400
    assert "credential" in response.json()["fields"]
    assert not WebAuthnCredential.objects.exists()
    event = AuditEvent.objects.get(action="login_failed", object_type="mfa_passkey")
    assert event.detail["stage"] == "enrolment"
    again = client.post("/api/auth/mfa/webauthn/register/finish/", {"credential": BOGUS})
    assert "non_field_errors" in again.json()["fields"]


def test_finish_needs_a_credential(client_for):
    client = client_for(UserFactory(role="clinician"))
    response = client.post("/api/auth/mfa/webauthn/register/finish/", {})
    assert response.status_code == 400
    assert "credential" in response.json()["fields"]


def test_verify_begin_for_an_account_without_passkeys_is_400(api, client_for, clock):
    user = UserFactory(username="maria", role="clinician")
    enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    response = api.post("/api/auth/mfa/webauthn/verify/begin/", {"challenge": challenge})
    assert response.status_code == 400


def test_a_bogus_assertion_is_400_and_counts_as_a_failed_second_factor(
    api, client_for, clock, settings
):
    settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS = 1
    user = UserFactory(username="maria", role="clinician")
    enrol_totp(client_for(user), clock)
    challenge = login(api, "maria").json()["challenge"]
    response = api.post(
        "/api/auth/mfa/webauthn/verify/finish/", {"challenge": challenge, "credential": BOGUS}
    )
    assert response.status_code == 400
    assert AuditEvent.objects.filter(action="login_failed", detail__mfa="webauthn").exists()
    assert login(api, "maria").status_code == 429


def test_verify_with_an_unknown_challenge_is_400(api):
    for path in ("/api/auth/mfa/webauthn/verify/begin/", "/api/auth/mfa/webauthn/verify/finish/"):
        response = api.post(path, {"challenge": "nope", "credential": BOGUS})
        assert response.status_code == 400
        assert "challenge" in response.json()["fields"]


@pytest.mark.parametrize("credential", [10**25, "text", [], {"id": 5}, {"response": None}])
def test_a_credential_that_is_not_a_credential_is_a_400(client_for, credential):
    client = client_for(UserFactory(role="clinician"))
    client.post("/api/auth/mfa/webauthn/register/begin/")
    response = client.post(
        "/api/auth/mfa/webauthn/register/finish/", {"credential": credential}, format="json"
    )
    assert response.status_code == 400
    assert "credential" in response.json()["fields"]
