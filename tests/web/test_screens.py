"""Every screen of the web client in Chromium: accessible (axe-core finds nothing serious or
critical), usable at 375 px without sideways scrolling, talking to nobody but its own
origin; the screenshots in docs/screenshots come from here."""

from __future__ import annotations

import re
from typing import Any

import pyotp

from tests.web.conftest import PASSWORD
from tests.web.pages import (
    JOIN,
    Origin,
    horizontal_overflow,
    screenshot,
    serious_violations,
    sign_in,
)

# Clinicians must have a second factor on this server, as outside the embedded default.
SERVER_ENV = {"VIOIP_MFA_REQUIRED_ROLES": "clinician"}
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
TIMEOUT_MS = 20_000


def check(page: Any, name: str, *, phone: bool = True) -> None:
    """No serious or critical axe-core violation, and nothing wider than a phone."""
    assert serious_violations(page) == [], name
    if phone:
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        assert horizontal_overflow(page) <= 0, name
        page.set_viewport_size(size)
    screenshot(page, name)


def new_page(browser: Any, origin: Origin, viewport: dict[str, int]) -> Any:
    page = origin.watch(browser.new_context(viewport=viewport)).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def test_sign_in_screen_is_usable_at_once_and_explains_a_wrong_password(browser, web_server):
    origin = Origin(web_server.http)
    page = new_page(browser, origin, PHONE)
    page.goto(web_server.http + "/")
    page.get_by_label("Username").wait_for()
    # First screen usable in under a second on loopback, by the browser's own clock (once
    # the server has served its first request; that one also loads Django's URLconf).
    page.reload()
    page.get_by_label("Username").wait_for()
    assert page.evaluate("() => performance.now()") < 1000
    check(page, "sign-in")
    page.get_by_label("Username").fill("alex")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="do not match").wait_for()
    assert serious_violations(page) == []
    assert origin.outside == []


def test_patient_screens_on_a_phone(browser, web_server):
    origin = Origin(web_server.http)
    patient = new_page(browser, origin, PHONE)
    facilitator = new_page(browser, origin, DESKTOP)
    sign_in(patient, web_server.http, "alex")

    hours = patient.locator(
        "section", has=patient.get_by_role("heading", name="Your hours this week")
    )
    hours.get_by_text(re.compile(r"left to reach this week's minimum")).wait_for()
    patient.get_by_role("link", name=JOIN).first.wait_for()
    check(patient, "home-patient")

    patient.get_by_role("link", name="Your records", exact=True).click()
    for heading in ("Signed notes", "Screening results", "Disclosures made about you"):
        patient.get_by_role("heading", name=heading).wait_for()
    patient.get_by_text("County Probation Department", exact=False).first.wait_for()
    check(patient, "records")

    patient.get_by_role("link", name="Home").click()
    patient.get_by_role("link", name=JOIN).first.click()
    patient.get_by_text("You're in the waiting room…").wait_for()
    check(patient, "waiting-room")

    sign_in(facilitator, web_server.http, "fac.maria")
    check(facilitator, "home-facilitator")
    facilitator.get_by_role("link", name=JOIN).first.click()
    facilitator.get_by_role("button", name="Admit Alex R.").click()
    box = patient.get_by_label("Message", exact=True)
    box.fill("Hi everyone, glad to be here.")
    box.press("Enter")
    facilitator.get_by_label("Message", exact=True).fill("Welcome, Alex.")
    facilitator.get_by_label("Message", exact=True).press("Enter")
    patient.get_by_role("log").get_by_text("Welcome, Alex.").wait_for()
    patient.get_by_role("button", name="Raise hand").click()
    facilitator.get_by_role("button", name="Lock room").click()
    facilitator.get_by_role("button", name="Unlock room").wait_for()
    facilitator.get_by_text(re.compile(r"of 180 min today")).first.wait_for()
    check(patient, "room-patient")
    check(facilitator, "room-facilitator")

    # Removed: a plain sentence, and the page does not knock again.
    facilitator.get_by_role("button", name="Remove Alex R.").click()
    patient.get_by_text("You are not in this room any more").wait_for()
    check(patient, "removed")
    assert origin.outside == []


def test_staff_enrol_a_second_factor_and_sign_in_with_it(browser, web_server):
    origin = Origin(web_server.http)
    page = new_page(browser, origin, DESKTOP)
    page.goto(web_server.http + "/")
    page.get_by_label("Username").fill("dr.chen")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # A clinician without a factor is taken to enrolment, with the QR code drawn here.
    page.get_by_role("button", name="Set up an authenticator app").click()
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    qr.wait_for()
    assert (qr.get_attribute("src") or "").startswith("data:image/")
    secret = page.locator("code.secret").inner_text()
    check(page, "mfa-enrol")
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator("ul.codes code").all_inner_texts()
    assert len(codes) == 10
    check(page, "mfa-recovery-codes", phone=False)
    page.get_by_role("button", name="I have saved these codes").click()
    page.get_by_role("heading", name=re.compile("^Hello")).wait_for()

    # Next time: password, then a second step (a recovery code works once).
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("dr.chen")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Authentication code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("alert").filter(has_text="did not work").wait_for()
    check(page, "mfa-verify")
    page.get_by_label("Authentication code").fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.get_by_role("heading", name=re.compile("^Hello")).wait_for()
    assert origin.outside == []


def test_staff_enrol_a_passkey_and_sign_in_with_it(browser, web_server):
    # Passkeys belong to a domain: this test opens the page as localhost, the relying party.
    local = web_server.http.replace("127.0.0.1", "localhost")
    origin = Origin(local)
    context = origin.watch(browser.new_context(viewport=DESKTOP))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    page.goto(local + "/")
    page.get_by_label("Username").fill("dr.patel")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Set up a passkey").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    page.get_by_role("button", name="I have saved these codes").click()
    page.get_by_role("heading", name=re.compile("^Hello")).wait_for()

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Username").fill("dr.patel")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("heading", name=re.compile("^Hello")).wait_for()
    assert origin.outside == []
