"""The rows every room write takes, in the one order every process takes them: the
room's row first (created on first use), then a participant's, so processes on every host
see one order of events. Also the participant as the room sees them, and the attendance
stretches that entry, leaving and moderation open and close."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from sessions_app.models import Session
from sessions_app.rooms.models import AttendanceSegment, Participant, Room
from sessions_app.rooms.selectors import participant_record


def room_for_update(session: Session) -> Room:
    """The session's room row, locked until commit (created on first use)."""
    room = Room.objects.select_for_update().filter(pk=session.pk).first()
    if room is not None:
        return room
    try:
        with transaction.atomic():
            Room.objects.create(session=session, waiting_room=session.waiting_room)
    except IntegrityError:
        pass  # created by another process first
    return Room.objects.select_for_update().get(pk=session.pk)


# An attendance stretch opens unless one is open already: one statement, as every
# admitted entry makes it (on PostgreSQL, inside the entry's own statement: entry.py).
SEGMENT_OPENED = (
    "INSERT INTO rooms_attendancesegment (session_id, user_id, joined_at) "
    "SELECT %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM rooms_attendancesegment "
    "WHERE session_id = %s AND user_id = %s AND left_at IS NULL)"
)


def open_segment(*, session_id: int, user_id: int, at: dt.datetime) -> None:
    joined_at = connection.ops.adapt_datetimefield_value(at)
    with connection.cursor() as cursor:
        cursor.execute(SEGMENT_OPENED, [session_id, user_id, joined_at, session_id, user_id])


def close_segments(*, session_id: int, at: dt.datetime, user_id: int | None = None) -> None:
    open_segments = AttendanceSegment.objects.filter(session_id=session_id, left_at__isnull=True)
    if user_id is not None:
        open_segments = open_segments.filter(user_id=user_id)
    open_segments.update(left_at=Greatest(F("joined_at"), Value(at)))


def visible_record(participant: Participant) -> dict[str, Any] | None:
    """The participant as the room sees them: None when not in the room."""
    if not participant.online or participant.removed:
        return None
    return participant_record(participant)


def participant_for_update(*, session_id: int, user_id: int) -> Participant | None:
    """The user's participant row in the room, locked until commit: take the room's first.
    Only that row: its person's user row is read, not locked. An audit event naming the
    person checks its reference to that row when it commits, under the chain head's lock,
    which a leave then waits for: locking the user row too made the two deadlock."""
    return (
        Participant.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(session_id=session_id, user_id=user_id)
        .first()
    )
