"""Second-factor test helpers: enrol through the API, compute codes from the secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyotp
from django.utils import timezone

from tests.factories import PASSWORD

STAFF = ["admin", "auditor", "clinician", "facilitator"]


def code_at(secret: str, offset_steps: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(timezone.now() + dt.timedelta(seconds=30 * offset_steps))


def login(api: Any, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return api.post(
        "/api/auth/login/", {"username": username, "password": password}, format="json", **extra
    )


def enrol_totp(client: Any, clock: Any) -> tuple[str, list[str]]:
    """Enrol an authenticator app through the API; the secret and the recovery codes. The
    clock moves to the next step, so the confirmation code is not replayed by the test."""
    begun = client.post("/api/auth/mfa/totp/")
    assert begun.status_code == 201, begun.content
    secret = begun.json()["secret"]
    confirmed = client.post("/api/auth/mfa/totp/confirm/", {"code": code_at(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    clock.shift(dt.timedelta(seconds=30))
    return secret, confirmed.json()["recovery_codes"]


def verify(api: Any, challenge: str, code: str, **extra: Any) -> Any:
    return api.post(
        "/api/auth/mfa/verify/", {"challenge": challenge, "code": code}, format="json", **extra
    )
