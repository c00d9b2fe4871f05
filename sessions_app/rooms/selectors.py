"""Reads of room records, limited to what the caller may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from groups.models import Enrollment
from groups.selectors import is_cohort_staff
from sessions_app.models import PATIENT_KINDS, Session
from sessions_app.rooms.models import (
    AttendanceSegment,
    ChatMessage,
    Participant,
    ParticipantState,
    Room,
)
from sessions_app.rooms.notify import encode
from vioip.accounts.models import Role, User

HISTORY_LIMIT = 500
STATE_MESSAGES = 50
# Chat in one frame (history or room.state) stays below this, whatever the messages hold.
FRAME_MESSAGE_BYTES = 256 * 1024


def participant_record(participant: Participant) -> dict[str, Any]:
    user = participant.user
    return {
        "user_id": user.pk,
        "display_name": user.display_name,
        "role": user.role,
        "state": participant.state,
        "muted": participant.muted,
        "hand_raised": participant.hand_raised,
    }


def message_record(message: ChatMessage) -> dict[str, Any]:
    sender = message.sender
    return {
        "seq": message.seq,
        "id": message.pk,
        "client_id": str(message.client_id),
        "sender": {"user_id": sender.pk, "display_name": sender.display_name, "role": sender.role},
        # A deleted message keeps its place in the sequence but not its text.
        "text": None if message.deleted else message.text,
        "deleted": message.deleted,
        "sent_at": message.sent_at,
    }


def room_flags(room: Room) -> dict[str, Any]:
    return {
        "locked": room.locked,
        "chat_enabled": room.chat_enabled,
        "waiting_room": room.waiting_room,
    }


def session_record(session: Session) -> dict[str, Any]:
    return {
        "id": session.pk,
        "title": session.title,
        "kind": session.kind,
        "status": session.status,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
    }


# An upper bound of a message record's JSON beyond its two strings: keys, numbers, the
# client id, role and timestamp take about 200 bytes.
_RECORD_OVERHEAD_BYTES = 512


def _at_most_bytes(record: dict[str, Any]) -> int:
    """An upper bound of ``len(encode(record).encode())`` without encoding: a character of
    text or name is at most 6 bytes of JSON (``\\u001f``; UTF-8 needs at most 4)."""
    text = record["text"] or ""
    return 6 * (len(text) + len(record["sender"]["display_name"])) + _RECORD_OVERHEAD_BYTES


def _within_bytes(records: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """The leading records whose JSON fits ``budget`` bytes (always at least one): a frame
    of history stays well below the outbound buffer bound, however long the messages.

    Ordinary chat is far below the budget: then the bound alone says so, and the records
    are encoded once, in their frame, instead of twice."""
    if sum(_at_most_bytes(record) for record in records) <= budget:
        return records
    kept: list[dict[str, Any]] = []
    used = 0
    for record in records:
        used += len(encode(record).encode("utf-8"))
        if kept and used > budget:
            break
        kept.append(record)
    return kept


def chat_after(
    *, session_id: int, after_seq: int, limit: int = HISTORY_LIMIT
) -> tuple[list[dict[str, Any]], bool]:
    """Messages after ``after_seq`` in order, at most ``limit`` and ``FRAME_MESSAGE_BYTES``
    of them, and whether more follow. Callers are room members (checked at entry)."""
    rows = (
        ChatMessage.objects.filter(session_id=session_id, seq__gt=after_seq)
        .select_related("sender")
        .order_by("seq")[: limit + 1]
    )
    records = [message_record(m) for m in rows]
    kept = _within_bytes(records[:limit], FRAME_MESSAGE_BYTES)
    return kept, len(kept) < len(records)


# What a room frame shows of a person: loading only these keeps a socket's entry cheap.
_PERSON_FIELDS = ("id", "username", "first_name", "last_name", "role")


def room_state(*, session_id: int, user: Any) -> dict[str, Any]:
    """The ``room.state`` frame for ``user``: a patient still waiting gets only their own
    record and the room's flags — no roster, no chat. Three queries."""
    room = Room.objects.select_related("session").get(pk=session_id)
    people = list(
        Participant.objects.filter(session_id=session_id)
        .filter(Q(user_id=user.pk) | Q(online=True, removed=False))
        .select_related("user")
        .only(
            "user_id",
            "is_staff",
            "state",
            "muted",
            "hand_raised",
            "online",
            "removed",
            *(f"user__{name}" for name in _PERSON_FIELDS),
        )
    )
    me = next((p for p in people if p.user_id == user.pk), None)
    if me is None:
        raise Participant.DoesNotExist("not a participant of this room")
    frame: dict[str, Any] = {
        "type": "room.state",
        "session": session_record(room.session),
        "me": participant_record(me),
        "room": room_flags(room),
    }
    if not me.is_staff and me.state != ParticipantState.ADMITTED:
        return frame
    frame["participants"] = [
        participant_record(p)
        for p in people
        if p.online and not p.removed and (me.is_staff or p.state == ParticipantState.ADMITTED)
    ]
    recent = (
        ChatMessage.objects.filter(session_id=session_id)
        .select_related("sender")
        .only(
            "id",
            "seq",
            "client_id",
            "text",
            "deleted",
            "sent_at",
            *(f"sender__{name}" for name in _PERSON_FIELDS),
        )
        .order_by("-seq")[:STATE_MESSAGES]
    )
    # The newest first, so the byte budget keeps the latest; then back in order.
    newest = _within_bytes([message_record(m) for m in recent], FRAME_MESSAGE_BYTES)
    frame["messages"] = newest[::-1]
    frame["last_seq"] = room.last_seq
    return frame


def transcript_for_staff(*, session: Session, user: Any) -> QuerySet[ChatMessage] | None:
    """The session's chat for its care team; None for anyone else (patients included)."""
    if not is_cohort_staff(user=user, cohort_id=session.cohort_id):
        return None
    return ChatMessage.objects.filter(session=session).select_related("sender").order_by("seq")


# --- Attendance --------------------------------------------------------------------------


@dataclass(frozen=True)
class AttendanceRow:
    user_id: int
    display_name: str
    minutes_attended: int
    first_join: dt.datetime | None
    last_leave: dt.datetime | None
    in_room: bool
    late: bool
    left_early: bool
    status: str  # present, late, left_early, absent


def segments_for_session(*, session: Session) -> QuerySet[AttendanceSegment]:
    return AttendanceSegment.objects.filter(session=session).order_by("user_id", "joined_at")


def expected_patient_ids(*, session: Session) -> list[int]:
    """Patients expected at the session: its patient for individual/family sessions, else
    those enrolled in the cohort on the session's day."""
    if session.kind in PATIENT_KINDS:
        return [session.patient_id] if session.patient_id else []
    day = session.starts_at.date()
    return list(
        Enrollment.objects.filter(cohort_id=session.cohort_id, start_date__lte=day)
        .filter(Q(discharged_on__isnull=True) | Q(discharged_on__gte=day))
        .values_list("patient_id", flat=True)
        .distinct()
    )


def attendance_for_session(*, session: Session, now: dt.datetime | None = None) -> list[Any]:
    """Per expected patient (and any other patient who attended): minutes attended within
    the scheduled time, first join, last leave and a status. An open segment counts up to
    ``now``. Thresholds: ``ATTENDANCE_LATE_MINUTES``, ``ATTENDANCE_LEFT_EARLY_MINUTES``."""
    now = now or timezone.now()
    segments: dict[int, list[AttendanceSegment]] = {}
    for segment in segments_for_session(session=session):
        segments.setdefault(segment.user_id, []).append(segment)
    candidates = list(dict.fromkeys([*expected_patient_ids(session=session), *segments]))
    users = User.objects.in_bulk(candidates)
    # Staff attend too, but attendance is reported for patients.
    patient_ids = [u for u in candidates if u in users and users[u].role == Role.PATIENT]
    late_after = session.starts_at + dt.timedelta(minutes=settings.ATTENDANCE_LATE_MINUTES)
    early_before = session.ends_at - dt.timedelta(minutes=settings.ATTENDANCE_LEFT_EARLY_MINUTES)
    rows = []
    for user_id in patient_ids:
        own = segments.get(user_id, [])
        seconds = 0.0
        for segment in own:
            start = max(segment.joined_at, session.starts_at)
            end = min(segment.left_at or now, session.ends_at)
            seconds += max(0.0, (end - start).total_seconds())
        first_join = own[0].joined_at if own else None
        in_room = any(s.left_at is None for s in own)
        last_leave = None if in_room or not own else max(s.left_at for s in own if s.left_at)
        late = first_join is not None and first_join > late_after
        left_early = last_leave is not None and last_leave < early_before
        if not own:
            status = "absent"
        elif late:
            status = "late"
        elif left_early:
            status = "left_early"
        else:
            status = "present"
        user = users.get(user_id)
        rows.append(
            AttendanceRow(
                user_id=user_id,
                display_name=user.display_name if user else "",
                minutes_attended=int(seconds // 60),
                first_join=first_join,
                last_leave=last_leave,
                in_room=in_room,
                late=late,
                left_early=left_early,
                status=status,
            )
        )
    return rows
