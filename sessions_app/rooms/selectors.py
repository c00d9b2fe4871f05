"""Reads of room records, limited to what the caller may see, and the one access check
of a live socket."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from groups.models import Enrollment
from groups.selectors import (
    UserRef,
    active_patient_cohort_ids,
    is_cohort_staff,
    staff_cohort_ids,
)
from sessions_app.models import PATIENT_KINDS, Session
from sessions_app.rooms.models import (
    AttendanceSegment,
    ChatMessage,
    Participant,
    ParticipantState,
    Room,
)
from sessions_app.rooms.protocol import CLOSE_FORBIDDEN, CLOSE_TICKET, encode
from sessions_app.selectors import session_for_user
from vioip.accounts.models import AuthToken, Role, User, display_name
from vioip.core.errors import NotVisible
from vioip.core.prepared import Prepared

HISTORY_LIMIT = 500
STATE_MESSAGES = 50
# Chat in one frame (history or room.state) stays below this, whatever the messages hold.
FRAME_MESSAGE_BYTES = 256 * 1024


def _person(user_id: int, role: str, username: str, first_name: str, last_name: str) -> dict:
    """A person as room frames show them, from the user's id and ``_PERSON_COLUMNS``."""
    name = display_name(role=role, username=username, first_name=first_name, last_name=last_name)
    return {"user_id": user_id, "display_name": name, "role": role}


def person_record(user: User) -> dict[str, Any]:
    """A person as room frames show them."""
    return _person(user.pk, user.role, user.username, user.first_name, user.last_name)


def _participant(person: dict[str, Any], state: str, muted: bool, hand_raised: bool) -> dict:
    return {**person, "state": state, "muted": muted, "hand_raised": hand_raised}


def participant_record(participant: Participant) -> dict[str, Any]:
    return _participant(
        person_record(participant.user),
        participant.state,
        participant.muted,
        participant.hand_raised,
    )


def message_record(message: ChatMessage) -> dict[str, Any]:
    return _message(
        message_id=message.pk,
        seq=message.seq,
        client_id=message.client_id,
        sender=person_record(message.sender),
        text=message.text,
        deleted=message.deleted,
        sent_at=message.sent_at,
    )


def _message(
    *,
    message_id: int,
    seq: int,
    client_id: Any,
    sender: dict[str, Any],
    text: str | None,
    deleted: bool,
    sent_at: dt.datetime,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "id": message_id,
        "client_id": str(client_id),
        "sender": sender,
        # A deleted message keeps its place in the sequence but not its text.
        "text": None if deleted else text,
        "deleted": deleted,
        "sent_at": sent_at,
    }


def _flags(locked: bool, chat_enabled: bool, waiting_room: bool) -> dict[str, Any]:
    return {"locked": locked, "chat_enabled": chat_enabled, "waiting_room": waiting_room}


def room_flags(room: Room) -> dict[str, Any]:
    return _flags(room.locked, room.chat_enabled, room.waiting_room)


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
    *,
    session_id: int,
    after_seq: int,
    user_id: int,
    token_id: int | None,
    limit: int = HISTORY_LIMIT,
) -> tuple[list[dict[str, Any]], bool]:
    """Messages after ``after_seq`` in order, at most ``limit`` and ``FRAME_MESSAGE_BYTES``
    of them, and whether more follow, for a socket whose access holds now
    (``AccessEnded`` otherwise)."""
    require_access(session_id=session_id, user_id=user_id, token_id=token_id)
    rows = (
        ChatMessage.objects.filter(session_id=session_id, seq__gt=after_seq)
        .select_related("sender")
        .order_by("seq")[: limit + 1]
    )
    records = [message_record(m) for m in rows]
    kept = _within_bytes(records[:limit], FRAME_MESSAGE_BYTES)
    return kept, len(kept) < len(records)


# room.state's three reads, compiled once (vioip.core.prepared): every entry makes them.
_PERSON_COLUMNS = ("role", "username", "first_name", "last_name")
# The room's flags and its session: the same on every row of ``_STATE_PEOPLE``.
_STATE_ROOM_COLUMNS = (
    *(f"session__room__{name}" for name in ("locked", "chat_enabled", "waiting_room", "last_seq")),
    *(f"session__{name}" for name in ("id", "title", "kind", "status", "starts_at", "ends_at")),
)
# The people the frame may show (the user, and whoever is present) with the room's columns:
# one query where the room and its people were two (every entry reads it).
_STATE_PEOPLE = Prepared(
    lambda session_id, user_id: (
        Participant.objects.filter(session_id=session_id)
        .filter(Q(user_id=user_id) | Q(online=True, removed=False))
        .values_list(
            "user_id",
            "is_staff",
            "state",
            "muted",
            "hand_raised",
            "online",
            "removed",
            *(f"user__{name}" for name in _PERSON_COLUMNS),
            *_STATE_ROOM_COLUMNS,
        )
    ),
    session_id=Prepared.INT,
    user_id=Prepared.INT,
)
_STATE_MESSAGES = Prepared(
    lambda session_id: (
        ChatMessage.objects.filter(session_id=session_id)
        .order_by("-seq")
        .values_list(
            "id",
            "seq",
            "client_id",
            "text",
            "deleted",
            "sent_at",
            "sender_id",
            *(f"sender__{name}" for name in _PERSON_COLUMNS),
        )[:STATE_MESSAGES]
    ),
    unconverted=("text",),
    session_id=Prepared.INT,
)


@functools.lru_cache(maxsize=STATE_MESSAGES * 200)
def _chat_text(stored: str) -> str:
    """A chat message's text from its ciphertext. Every entry to a room sends its latest
    messages, and decrypting them was a tenth of an entry's CPU: a room worker keeps the
    clear text of the latest ones it read (bounded, in memory only; see
    docs/data-protection.md). A ciphertext is never reused (Fernet's random IV), so a
    cached text is always that message's."""
    text: str = ChatMessage._meta.get_field("text").from_db_value(stored, None, None)
    return text


def room_state(*, session_id: int, user: Any) -> dict[str, Any]:
    """The ``room.state`` frame for ``user``: a patient still waiting gets only their own
    record and the room's flags — no roster, no chat. Two queries, read as rows."""
    (frame,) = room_states(session_id=session_id, users=[user])
    if isinstance(frame, Exception):
        raise frame
    return frame


def room_states(
    *, session_id: int, users: Sequence[Any]
) -> list[dict[str, Any] | Room.DoesNotExist | Participant.DoesNotExist]:
    """``room_state`` for each of ``users`` (the sockets that entered a room together), in
    their order: the room's people and its latest messages are read once for all of them
    (a frame differs per person only in what it may show), not twice per socket. Someone
    the first read does not hold (no longer present) gets a read of their own; one who is
    no participant gets ``Participant.DoesNotExist`` in their place."""
    shared = _StatePeople.read(session_id, users[0].pk)
    messages: list[list[dict[str, Any]]] = []

    def latest_messages() -> list[dict[str, Any]]:
        if not messages:
            messages.append(_latest_messages(session_id))
        return messages[0]

    frames: list[dict[str, Any] | Room.DoesNotExist | Participant.DoesNotExist] = []
    for user in users:
        people = shared
        if user.pk not in people.records:
            people = _StatePeople.read(session_id, user.pk)
        try:
            frames.append(people.frame(user, latest_messages))
        except (Room.DoesNotExist, Participant.DoesNotExist) as exc:
            frames.append(exc)
    return frames


@dataclass(frozen=True)
class _StatePeople:
    """One read of ``_STATE_PEOPLE``: each person's (is_staff, state, present, record), and
    the room's columns (None: no room, or nobody to show)."""

    records: dict[int, tuple[bool, str, bool, dict[str, Any]]]
    room: tuple[Any, ...] | None

    @classmethod
    def read(cls, session_id: int, user_id: int) -> _StatePeople:
        rows = _STATE_PEOPLE.rows(session_id=session_id, user_id=user_id)
        width = len(_STATE_ROOM_COLUMNS)
        if rows and rows[0][-width] is None:
            return cls(records={}, room=None)
        records = {}
        for row in rows:
            user_id_, is_staff, state, muted, hand_raised, online, removed, *person = row[:-width]
            record = _participant(_person(user_id_, *person), state, muted, hand_raised)
            records[user_id_] = (is_staff, state, online and not removed, record)
        return cls(records=records, room=tuple(rows[0][-width:]) if rows else ())

    def frame(
        self, user: Any, latest_messages: Callable[[], list[dict[str, Any]]]
    ) -> dict[str, Any]:
        if self.room is None:
            raise Room.DoesNotExist("no room for this session")
        if user.pk not in self.records:
            raise Participant.DoesNotExist("not a participant of this room")
        my_staff, my_state, _, me = self.records[user.pk]
        locked, chat_enabled, waiting_room, last_seq, *session = self.room
        session_id_, title, kind, status, starts_at, ends_at = session
        frame: dict[str, Any] = {
            "type": "room.state",
            "session": {
                "id": session_id_,
                "title": title,
                "kind": kind,
                "status": status,
                "starts_at": starts_at,
                "ends_at": ends_at,
            },
            "me": me,
            "room": _flags(locked, chat_enabled, waiting_room),
        }
        if not my_staff and my_state != ParticipantState.ADMITTED:
            return frame
        frame["participants"] = [
            record
            for _, state, present, record in self.records.values()
            if present and (my_staff or state == ParticipantState.ADMITTED)
        ]
        frame["messages"] = latest_messages()
        frame["last_seq"] = last_seq
        return frame


def _latest_messages(session_id: int) -> list[dict[str, Any]]:
    """The room's latest messages for ``room.state``, in order, within the frame's bytes."""
    recent = [
        _message(
            message_id=message_id,
            seq=seq,
            client_id=client_id,
            sender=_person(sender_id, *sender),
            # A deleted message's text is not sent, so not decrypted either.
            text=None if deleted else _chat_text(stored),
            deleted=deleted,
            sent_at=sent_at,
        )
        for message_id, seq, client_id, stored, deleted, sent_at, sender_id, *sender in (
            _STATE_MESSAGES.rows(session_id=session_id)
        )
    ]
    # The newest first, so the byte budget keeps the latest; then back in order.
    return _within_bytes(recent, FRAME_MESSAGE_BYTES)[::-1]


# --- Access of a live socket ------------------------------------------------------------


def with_relationship(participants: QuerySet[Participant]) -> QuerySet[Participant]:
    """Participants annotated with whether their relationship to the session holds now:
    ``staff_ok`` (a care-team membership of the session's cohort matching the user's
    current role, user active) and ``patient_ok`` (an active enrollment in the cohort,
    user active and a patient). Read from the database on every call, never cached."""
    user = UserRef(OuterRef("user_id"))
    cohort = OuterRef("session__cohort_id")
    return participants.annotate(
        staff_ok=Exists(staff_cohort_ids(user=user).filter(cohort_id=cohort)),
        patient_ok=Exists(active_patient_cohort_ids(user=user).filter(cohort_id=cohort)),
    )


_ACCESS_FIELDS = (
    "session_id",
    "user_id",
    "is_staff",
    "removed",
    "user__is_active",
    "staff_ok",
    "patient_ok",
    "session__kind",
    "session__patient_id",
)


def _live_tokens(now: dt.datetime) -> QuerySet[AuthToken]:
    """Tokens that have not ended (a socket without a token, ``pk=0``, has none)."""
    # The absolute expiry only: a patient in a three-hour group makes no REST calls, so
    # the idle limit of the REST token says nothing about the socket.
    return AuthToken.objects.filter(revoked_at__isnull=True, expires_at__gt=now)


def _verdict(row: tuple[Any, ...], *, token_live: bool) -> int | None:
    _, user_id, is_staff, removed, active, staff_ok, patient_ok, kind, patient_id = row
    if not active or not token_live:
        return CLOSE_TICKET
    if removed:
        return CLOSE_FORBIDDEN
    if is_staff:
        return None if staff_ok else CLOSE_FORBIDDEN
    if patient_ok and (kind not in PATIENT_KINDS or patient_id == user_id):
        return None
    return CLOSE_FORBIDDEN


def socket_access(*, session_id: int, user_id: int, token_id: int | None) -> int | None:
    """Whether a socket of ``user_id``, opened with the ticket of bearer token
    ``token_id``, may still act in the room: None if so, else the close code —
    ``CLOSE_TICKET`` when the credential ended (token revoked or past its absolute expiry,
    user deactivated), ``CLOSE_FORBIDDEN`` when the relationship ended (care-team
    removal, role change, discharge, removal from the room). One query."""
    row = (
        with_relationship(Participant.objects.filter(session_id=session_id, user_id=user_id))
        .annotate(
            token_live=Exists(
                _live_tokens(timezone.now()).filter(pk=token_id or 0, user_id=OuterRef("user_id"))
            )
        )
        .values_list(*_ACCESS_FIELDS, "token_live")
        .first()
    )
    if row is None:
        return CLOSE_FORBIDDEN
    return _verdict(row[:-1], token_live=bool(row[-1]))


def _access_granted(
    *, session_id: int, user_id: int, token_id: int | None, now: dt.datetime
) -> QuerySet[Participant]:
    """The participant row when ``socket_access`` would grant, else nothing: the same rule
    as a filter, for statements that check access and write at once (chat on
    PostgreSQL, through ``access_granted_sql``). The revocation tests hold the two forms
    to the same answers on PostgreSQL."""
    return (
        with_relationship(Participant.objects.filter(session_id=session_id, user_id=user_id))
        .annotate(
            token_live=Exists(
                _live_tokens(now).filter(pk=token_id or 0, user_id=OuterRef("user_id"))
            )
        )
        .filter(user__is_active=True, token_live=True, removed=False)
        .filter(
            Q(is_staff=True, staff_ok=True)
            | (
                Q(is_staff=False, patient_ok=True)
                & (~Q(session__kind__in=PATIENT_KINDS) | Q(session__patient_id=F("user_id")))
            )
        )
    )


_ACCESS_GRANTED = Prepared(
    lambda session_id, user_id, token_id, now: _access_granted(
        session_id=session_id, user_id=user_id, token_id=token_id, now=now
    ).values("pk"),
    session_id=Prepared.INT,
    user_id=Prepared.INT,
    token_id=Prepared.INT,
    now=Prepared.DATETIME,
)


def access_granted_sql(
    *, session_id: int, user_id: int, token_id: int | None
) -> tuple[str, list[Any]]:
    """``_access_granted`` (the participant's pk) as SQL and parameters, for ``EXISTS (…)``
    inside a statement of the caller's own. The SQL is the same for every socket and
    message: compiled once, the socket's values bound per call."""
    return _ACCESS_GRANTED.sql(
        session_id=session_id, user_id=user_id, token_id=token_id or 0, now=timezone.now()
    )


class AccessEnded(Exception):
    """The socket's access is gone: the frame is refused and the socket closed with
    ``close_code``."""

    def __init__(self, close_code: int) -> None:
        super().__init__("access ended")
        self.close_code = close_code


def require_access(*, session_id: int, user_id: int, token_id: int | None) -> None:
    """``socket_access``, raising ``AccessEnded`` when access is gone: the first statement
    of every room call made for a frame that reads or writes."""
    code = socket_access(session_id=session_id, user_id=user_id, token_id=token_id)
    if code is not None:
        raise AccessEnded(code)


@dataclass(frozen=True)
class SocketKey:
    session_id: int
    user_id: int
    token_id: int | None


def sockets_access(*, sockets: Iterable[SocketKey]) -> dict[SocketKey, int | None]:
    """``socket_access`` for many sockets at once (the heartbeat's backstop for a lost
    ``access.changed``): two queries, however many sockets and rooms, each compiled once
    and bound with the sockets' ids as one list."""
    keys = list(dict.fromkeys(sockets))
    if not keys:
        return {}
    live_tokens = set(
        _SOCKETS_TOKENS.rows(
            token_ids=sorted({k.token_id for k in keys if k.token_id is not None}),
            now=timezone.now(),
        )
    )
    rows = {
        (row[0], row[1]): row
        for row in _SOCKETS_ACCESS.rows(
            session_ids=sorted({k.session_id for k in keys}),
            user_ids=sorted({k.user_id for k in keys}),
        )
    }
    verdicts: dict[SocketKey, int | None] = {}
    for key in keys:
        row = rows.get((key.session_id, key.user_id))
        verdicts[key] = (
            CLOSE_FORBIDDEN
            if row is None
            else _verdict(row, token_live=(key.token_id, key.user_id) in live_tokens)
        )
    return verdicts


_SOCKETS_TOKENS = Prepared(
    lambda token_ids, now: (
        _live_tokens(now).filter(pk__any_of=token_ids).values_list("pk", "user_id")
    ),
    token_ids=Prepared.INTS,
    now=Prepared.DATETIME,
)
_SOCKETS_ACCESS = Prepared(
    lambda session_ids, user_ids: with_relationship(
        Participant.objects.filter(session_id__any_of=session_ids, user_id__any_of=user_ids)
    ).values_list(*_ACCESS_FIELDS),
    session_ids=Prepared.INTS,
    user_ids=Prepared.INTS,
)


# --- REST reads for the care team ----------------------------------------------------------


def staff_session_for_user(*, user: User, session_id: Any, object_type: str) -> Session:
    """The door to a session's care-team records (chat transcript, attendance): the
    session if ``user`` is on its cohort's care team now, else ``NotVisible`` (missing and
    forbidden alike; the exception handler answers 404 and audits the denial)."""
    try:
        session = session_for_user(user=user, session_id=session_id)
    except NotVisible as hidden:
        hidden.object_type = object_type  # the record asked for, not the session
        raise
    if not is_cohort_staff(user=user, cohort_id=session.cohort_id):
        patient = session.patient_id if session.kind in PATIENT_KINDS else None
        raise NotVisible(object_type=object_type, object_id=session.pk, patient=patient)
    return session


def transcript_of(*, session: Session) -> QuerySet[ChatMessage]:
    """The session's chat, for its care team (reached through ``staff_session_for_user``)."""
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
