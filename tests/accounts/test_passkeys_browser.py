"""Passkeys end to end in a real Chromium with its virtual authenticator (CDP
``WebAuthn.addVirtualAuthenticator``): the page runs the real ceremonies against the
running app (``navigator.credentials.create`` / ``get``); nothing is mocked.

Select with ``-m browser``. Skipped when Chromium or Playwright is missing, unless
``VIOIP_REQUIRE_SYSTEM_TOOLS=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from tests.factories import PASSWORD, UserFactory
from vioip.accounts.models import WebAuthnCredential
from vioip.audit.models import AuditEvent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


def _tools_or_skip() -> Any:
    required = os.environ.get("VIOIP_REQUIRE_SYSTEM_TOOLS") == "1"
    if not (os.path.exists(CHROMIUM) and shutil.which("chromium")):
        if required:
            pytest.fail(f"{CHROMIUM} is required (VIOIP_REQUIRE_SYSTEM_TOOLS=1)")
        pytest.skip(f"{CHROMIUM} is not installed")
    try:
        from playwright import sync_api
    except ImportError:
        if required:
            pytest.fail("playwright is required (VIOIP_REQUIRE_SYSTEM_TOOLS=1)")
        pytest.skip("playwright is not installed")
    return sync_api


# Runs in the page: JSON in and out of the API, the browser's own WebAuthn JSON helpers.
CEREMONY = """
async ({username, password}) => {
  const call = async (path, body, token) => {
    const headers = {"Content-Type": "application/json"};
    if (token) headers["Authorization"] = "Bearer " + token;
    const response = await fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return {status: response.status, body: text ? JSON.parse(text) : null};
  };
  const out = {};
  const login = () => call("/api/auth/login/", {username, password});

  const first = await login();
  out.firstLogin = first.body;
  const token = first.body.token;
  out.beforeEnrolment = (await call("/api/cohorts/", undefined, token)).status;

  const begin = await call("/api/auth/mfa/webauthn/register/begin/", {}, token);
  out.registerBegin = begin.status;
  const created = await navigator.credentials.create({
    publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(begin.body),
  });
  const finish = await call(
    "/api/auth/mfa/webauthn/register/finish/",
    {credential: created.toJSON(), name: "Virtual authenticator"},
    token,
  );
  out.registerFinish = finish;
  out.afterEnrolment = (await call("/api/cohorts/", undefined, token)).status;
  out.logout = (await call("/api/auth/logout/", {}, token)).status;

  const second = await login();
  out.secondLogin = second.body;
  const challenge = second.body.challenge;
  const options = await call("/api/auth/mfa/webauthn/verify/begin/", {challenge});
  out.verifyBegin = options.status;
  const asserted = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body),
  });
  const assertion = asserted.toJSON();
  const verified = await call(
    "/api/auth/mfa/webauthn/verify/finish/", {challenge, credential: assertion}
  );
  out.verifyFinish = verified.status;
  out.verifiedBody = verified.body;
  out.me = (await call("/api/auth/me/", undefined, verified.body.token)).body;
  out.cohorts = (await call("/api/cohorts/", undefined, verified.body.token)).status;
  // The same assertion again: its challenge is spent.
  out.replay = (await call(
    "/api/auth/mfa/webauthn/verify/finish/", {challenge, credential: assertion}
  )).status;
  return out;
}
"""


def test_a_clinician_enrols_a_passkey_and_signs_in_with_it(live_server, settings):
    sync_api = _tools_or_skip()
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    settings.MFA_REQUIRED_ROLES = ["clinician"]
    settings.WEBAUTHN_RP_ID = ""
    settings.WEBAUTHN_ORIGINS = []
    user = UserFactory(username="lin", role="clinician")
    origin = live_server.url
    assert origin.startswith("http://localhost:")  # a secure context without TLS

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"{origin}/healthz")
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                    }
                },
            )
            out = page.evaluate(CEREMONY, {"username": "lin", "password": PASSWORD})
            stored = cdp.send(
                "WebAuthn.getCredentials", {"authenticatorId": authenticator["authenticatorId"]}
            )
        finally:
            browser.close()

    assert out["firstLogin"]["mfa_enrollment_required"] is True
    assert out["beforeEnrolment"] == 403
    assert out["registerBegin"] == 200
    assert out["registerFinish"]["status"] == 201, out["registerFinish"]
    assert len(out["registerFinish"]["body"]["recovery_codes"]) == 10
    assert out["afterEnrolment"] == 200
    assert out["logout"] == 204
    assert out["secondLogin"]["mfa_required"] is True
    assert "token" not in out["secondLogin"]
    assert "webauthn" in out["secondLogin"]["methods"]
    assert out["verifyBegin"] == 200
    assert out["verifyFinish"] == 200, out["verifiedBody"]
    assert out["verifiedBody"]["mfa_enrollment_required"] is False
    assert out["me"]["username"] == "lin"
    assert out["cohorts"] == 200
    assert out["replay"] == 400
    # The authenticator holds the one credential the server keeps, and both count its use.
    (credential,) = stored["credentials"]
    kept = WebAuthnCredential.objects.get(user=user)
    assert kept.last_used_at is not None
    assert kept.sign_count == credential["signCount"]
    assert AuditEvent.objects.filter(action="create", object_type="mfa_passkey").count() == 1
    assert AuditEvent.objects.filter(action="login", detail__mfa="webauthn").count() == 1
