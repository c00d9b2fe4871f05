"""Room chat: a message is stored with the room's next ``seq`` before it is broadcast, so
nothing accepted is lost, and a resend (the same ``client_id``) gets the stored original,
never a second message. Reading history is ``selectors.chat_after``; hiding a message is
moderation (``moderation.chat_delete``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from sessions_app.rooms import notify, presence
from sessions_app.rooms.models import ChatMessage, Participant, ParticipantState
from sessions_app.rooms.protocol import CHAT_TEXT_MAX_CHARS as MAX_TEXT
from sessions_app.rooms.protocol import RoomError
from sessions_app.rooms.selectors import access_granted_sql, message_record, require_access
from vioip.accounts.models import User


@dataclass(frozen=True)
class Sent:
    message: dict[str, Any]
    created: bool


# Refusals a resend of an already stored message does not get: it gets the original.
_RESEND_WINS = frozenset({"muted", "chat_disabled", "rate_limited"})


def chat_send(
    *, session_id: int, user: User, token_id: int | None, client_id: uuid.UUID, text: str
) -> Sent:
    """Store a message with the room's next ``seq`` and only then broadcast it. The same
    ``client_id`` from the same sender returns the stored message, never a second one.
    The socket's access (``token_id``: the bearer token its ticket was bound to) is
    checked in the same statement that stores: a message after a revocation is never
    kept (``AccessEnded``).

    On PostgreSQL a new message is one statement (one round trip); a refusal or a resend
    then takes the general path, which says why. A resend is found by the unique
    constraint rather than looked up before every message.
    """
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise RoomError("invalid", f"A message has 1 to {MAX_TEXT} characters.")
    try:
        if not presence.store().rate_allows(
            f"chat:{session_id}:{user.pk}",
            limit=settings.ROOM_CHAT_RATE_MESSAGES,
            window=settings.ROOM_CHAT_RATE_SECONDS,
        ):
            raise RoomError("rate_limited", "Too many messages; wait a few seconds.")
        if connection.vendor == "postgresql":
            sent = _chat_store_one_statement(
                session_id=session_id, user=user, token_id=token_id, client_id=client_id, text=text
            )
            if sent is not None:
                return sent
        return _chat_store(
            session_id=session_id, user=user, token_id=token_id, client_id=client_id, text=text
        )
    except (RoomError, IntegrityError) as exc:
        # A resend (the client_id is taken) gets the stored original, as does one refused
        # for a reason that arose after the original was kept.
        if isinstance(exc, RoomError) and exc.code not in _RESEND_WINS:
            raise
        stored = _chat_stored(session_id=session_id, user=user, client_id=client_id)
        if stored is None:
            raise
        return stored


def _chat_stored(*, session_id: int, user: User, client_id: uuid.UUID) -> Sent | None:
    existing = (
        ChatMessage.objects.select_related("sender")
        .filter(session_id=session_id, sender=user, client_id=client_id)
        .first()
    )
    return None if existing is None else Sent(message_record(existing), created=False)


def _chat_stored_now(message: ChatMessage) -> Sent:
    record = message_record(message)
    notify.notify_frame(session_id=message.session_id, frame={"type": "chat.message", **record})
    return Sent(record, created=True)


# Lock the room's row, then the sender's (the order moderation locks them in), check the
# sender may speak and still has access (the access check's own query, as a subquery),
# take the next seq and insert the message, all or nothing; no row back means refused (or
# not in the room). Locking both makes a wait for a concurrent mute re-read the sender's
# row after it commits.
_CHAT_ONE_STATEMENT = """
WITH speaker AS (
    SELECT r.session_id
    FROM rooms_room r
    JOIN rooms_participant p ON p.session_id = r.session_id AND p.user_id = %s
    WHERE r.session_id = %s
      AND r.chat_enabled
      AND p.state = 'admitted' AND NOT p.muted AND NOT p.removed AND p.online
      AND EXISTS ({access})
    FOR UPDATE OF r, p
), seq AS (
    UPDATE rooms_room r SET last_seq = r.last_seq + 1
    FROM speaker WHERE r.session_id = speaker.session_id
    RETURNING r.last_seq
)
INSERT INTO rooms_chatmessage (session_id, seq, sender_id, client_id, text, sent_at, deleted)
SELECT %s, seq.last_seq, %s, %s, %s, %s, false
FROM seq
RETURNING id, seq
"""


def _chat_store_one_statement(
    *, session_id: int, user: User, token_id: int | None, client_id: uuid.UUID, text: str
) -> Sent | None:
    message = ChatMessage(
        session_id=session_id, sender=user, client_id=client_id, text=text, sent_at=timezone.now()
    )
    access_sql, access_params = access_granted_sql(
        session_id=session_id, user_id=user.pk, token_id=token_id
    )
    params = [
        user.pk,
        session_id,
        *access_params,
        session_id,
        user.pk,
        client_id,
        ChatMessage._meta.get_field("text").get_db_prep_save(text, connection),
        message.sent_at,
    ]
    # Autocommit: the statement is its own transaction, committed when it returns.
    with connection.cursor() as cursor:
        cursor.execute(_CHAT_ONE_STATEMENT.format(access=access_sql), params)
        row = cursor.fetchone()
    if row is None:
        return None
    message.pk, message.seq = row
    return _chat_stored_now(message)


# One statement takes the seq and locks the row (Django's update() cannot return values).
_NEXT_SEQ = (
    "UPDATE rooms_room SET last_seq = last_seq + 1 "
    "WHERE session_id = %s RETURNING last_seq, chat_enabled"
)


@transaction.atomic
def _chat_store(
    *, session_id: int, user: User, token_id: int | None, client_id: uuid.UUID, text: str
) -> Sent:
    # Taking the seq locks the room's row, which every change to the room's participants
    # locks first: the checks below read a state nobody can change until commit. Any
    # refusal rolls the transaction back, so refused messages leave no gap in the seq.
    require_access(session_id=session_id, user_id=user.pk, token_id=token_id)
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_SEQ, [session_id])
        row = cursor.fetchone()
    if row is None:
        raise RoomError("forbidden", "You are not in this room.")
    seq, chat_enabled = int(row[0]), bool(row[1])
    flags = (
        Participant.objects.filter(session_id=session_id, user_id=user.pk)
        .values_list("state", "muted", "removed", "online")
        .first()
    )
    if flags is None or flags[2] or not flags[3]:
        raise RoomError("forbidden", "You are not in this room.")
    if flags[0] != ParticipantState.ADMITTED:
        raise RoomError("not_admitted", "Wait until a facilitator admits you.")
    if flags[1]:
        raise RoomError("muted", "A facilitator has muted you.")
    if not chat_enabled:
        raise RoomError("chat_disabled", "Chat is off in this room.")
    message = ChatMessage(
        session_id=session_id,
        seq=seq,
        sender=user,
        client_id=client_id,
        text=text,
        sent_at=timezone.now(),
    )
    message.save(force_insert=True)
    return _chat_stored_now(message)
