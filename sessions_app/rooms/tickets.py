"""Room tickets: a bearer token trades one for a socket on a session's room.

A ticket is one-time and short-lived, so nothing that lives long goes in a WebSocket URL;
the socket it opens lives only as long as the token that asked for it. A ticket that does
not redeem closes the socket with ``protocol.CLOSE_TICKET``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from sessions_app.models import Session
from sessions_app.rooms.models import RoomTicket
from vioip.accounts.models import AuthToken, User, user_columns, user_from_row
from vioip.accounts.tokens import digest
from vioip.core.prepared import Prepared


@dataclass(frozen=True)
class IssuedTicket:
    raw: str
    expires_in: int


@transaction.atomic
def ticket_issue(*, user: User, session: Session, token: AuthToken) -> IssuedTicket:
    """A one-time ticket for ``user`` to open a socket on ``session``'s room, bound to the
    bearer ``token`` that asked for it: the socket lives only as long as that token. The
    caller has already checked the session is visible to the user; entry rules apply at
    connect."""
    if token.user_id != user.pk:
        raise ValueError("the token is not the user's")
    raw = secrets.token_urlsafe(32)  # 256 random bits
    now = timezone.now()
    RoomTicket.objects.create(
        digest=digest(raw),
        user=user,
        token=token,
        session=session,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.ROOM_TICKET_SECONDS),
    )
    # Spent and expired tickets are useless; dropping them keeps the table small.
    RoomTicket.objects.filter(user=user, expires_at__lt=now - dt.timedelta(hours=1)).delete()
    return IssuedTicket(raw=raw, expires_in=settings.ROOM_TICKET_SECONDS)


@dataclass(frozen=True)
class Bearer:
    """Who a redeemed ticket lets in, and the bearer token their socket lives on."""

    user: User
    token_id: int


_SPEND = "UPDATE rooms_roomticket SET used_at = %s WHERE digest = %s AND used_at IS NULL"
# The spent ticket with its token and user, compiled once (vioip.core.prepared).
_SPENT = Prepared(
    lambda digest: RoomTicket.objects.filter(digest=digest).values_list(
        "session_id",
        "expires_at",
        "token_id",
        "token__user_id",
        "token__revoked_at",
        "token__expires_at",
        "token__mfa_enrollment_only",
        *user_columns("user"),
    ),
    digest=Prepared.STR,
)


def ticket_redeem(*, raw: str, session_id: int) -> Bearer | None:
    """The ticket's user and token, once: a used, expired, unknown or other-session
    ticket is None, as is one whose user is inactive or whose token is revoked, past its
    absolute expiry or good only for enrolling a second factor. Presenting a ticket
    spends it whatever the outcome.

    No transaction: the conditional UPDATE spends the ticket atomically, so of two
    sockets presenting it only one gets a row. On PostgreSQL the spend and the read are
    one statement (a socket's entry is a dozen round trips, each a tenth of a millisecond
    of CPU or more); elsewhere two."""
    if not raw or len(raw) > 256:
        return None
    now = timezone.now()
    key = digest(raw)
    spend = [connection.ops.adapt_datetimefield_value(now), key]
    if connection.vendor == "postgresql":
        rows = _SPENT.rows_if(_SPEND, spend, digest=key)
    else:
        with connection.cursor() as cursor:
            cursor.execute(_SPEND, spend)
            if cursor.rowcount != 1:
                return None
        rows = _SPENT.rows(digest=key)
    if not rows:
        return None
    ticket_session, expires_at, token_id, token_user, revoked_at, token_expires, enrol_only, *me = (
        rows[0]
    )
    user = user_from_row(me)
    if expires_at <= now or ticket_session != session_id:
        return None
    if (
        not user.is_active
        or token_id is None
        or token_user != user.pk
        or revoked_at is not None
        or token_expires <= now
        or enrol_only  # good only for enrolling a second factor (accounts.mfa_gate)
    ):
        return None
    return Bearer(user=user, token_id=token_id)
