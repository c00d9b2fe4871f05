"""Bearer tokens: random, stored hashed, with idle and absolute expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from vioip.accounts.models import AuthToken, User, user_columns, user_from_row
from vioip.core.prepared import Prepared

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


_TOKEN_FIELDS = tuple(field.attname for field in AuthToken._meta.concrete_fields)
# Every API request reads its token and user: compiled once (vioip.core.prepared), where the
# ORM built and compiled the same join for each request.
_LIVE_TOKEN = Prepared(
    lambda digest: AuthToken.objects.filter(digest=digest, revoked_at__isnull=True).values_list(
        *_TOKEN_FIELDS, *user_columns("user")
    ),
    digest=Prepared.STR,
)


def token_authenticate(raw: str) -> AuthToken | None:
    """The live token for ``raw``, its idle clock extended; None if unknown or expired."""
    # The digest is unique: one row at most.
    rows = _LIVE_TOKEN.rows(digest=digest(raw))
    if not rows:
        return None
    values = rows[0]
    token = AuthToken.from_db(connection.alias, _TOKEN_FIELDS, values[: len(_TOKEN_FIELDS)])
    token.user = user_from_row(values[len(_TOKEN_FIELDS) :])
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
