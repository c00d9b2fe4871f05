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
from django.db import transaction
from django.utils import timezone

from sessions_app.models import Session
from sessions_app.rooms.models import RoomTicket
from vioip.accounts import mfa_gate
from vioip.accounts.models import AuthToken, User
from vioip.accounts.tokens import digest


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


def ticket_redeem(*, raw: str, session_id: int) -> Bearer | None:
    """The ticket's user and token, once: a used, expired, unknown or other-session
    ticket is None, as is one whose user is inactive or whose token is revoked, past its
    absolute expiry or good only for enrolling a second factor. Presenting a ticket
    spends it whatever the outcome.

    Two statements and no transaction: the conditional UPDATE spends the ticket
    atomically, so of two sockets presenting it only one gets a row."""
    if not raw or len(raw) > 256:
        return None
    now = timezone.now()
    key = digest(raw)
    if not RoomTicket.objects.filter(digest=key, used_at__isnull=True).update(used_at=now):
        return None
    ticket = RoomTicket.objects.select_related("user", "token").get(digest=key)
    if ticket.expires_at <= now or ticket.session_id != session_id:
        return None
    token = ticket.token
    if (
        not ticket.user.is_active
        or token is None
        or token.user_id != ticket.user_id
        or token.revoked_at is not None
        or token.expires_at <= now
        or mfa_gate.token_enrollment_only(token)
    ):
        return None
    return Bearer(user=ticket.user, token_id=token.pk)
