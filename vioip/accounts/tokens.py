"""Bearer tokens: random, stored hashed, with idle and absolute expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from vioip.accounts.models import AuthToken, User

# Writing last_used_at on every request would make every read a write; a minute of
# slack on a 15-minute idle limit is harmless.
_TOUCH_INTERVAL = timedelta(seconds=60)


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    raw: str
    token: AuthToken

    @property
    def idle_expires_at(self) -> datetime:
        return token_expires_at(self.token)


def token_expires_at(token: AuthToken) -> datetime:
    idle_end = token.last_used_at + timedelta(minutes=settings.TOKEN_IDLE_MINUTES)
    return min(idle_end, token.expires_at)


def token_issue(
    *, user: User, mfa_enrollment_only: bool = False, mfa_verified: bool = False
) -> IssuedToken:
    raw = secrets.token_urlsafe(32)  # 256 bits
    now = timezone.now()
    token = AuthToken.objects.create(
        digest=digest(raw),
        user=user,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(hours=settings.TOKEN_MAX_HOURS),
        mfa_enrollment_only=mfa_enrollment_only,
        mfa_verified_at=now if mfa_verified else None,
    )
    return IssuedToken(raw=raw, token=token)


def token_authenticate(raw: str) -> AuthToken | None:
    """The live token for ``raw``, its idle clock extended; None if unknown or expired."""
    try:
        # The digest is unique: a get, not a first() that would order by id to pick one.
        token = AuthToken.objects.select_related("user").get(
            digest=digest(raw), revoked_at__isnull=True
        )
    except AuthToken.DoesNotExist:
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if now >= token_expires_at(token):
        return None
    if now - token.last_used_at >= _TOUCH_INTERVAL:
        token.last_used_at = now
        token.save(update_fields=["last_used_at"])
    return token


def token_revoke(*, token: AuthToken) -> None:
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])


def tokens_revoke_for_user(*, user: User) -> int:
    return AuthToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
