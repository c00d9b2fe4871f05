"""Who is in a room: a socket's entry (or its refusal, with a close code), its release
when it closes, and a person's leaving once no socket of theirs is live on any process and
the grace window has passed; the sweeps take out those whose presence expired. Entry and
leaving open and close attendance and are audited."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from groups.selectors import UserRef, active_patient_cohort_ids, staff_cohort_ids
from sessions_app.models import PATIENT_KINDS, Session, SessionStatus
from sessions_app.rooms import notify, presence, tickets
from sessions_app.rooms.models import Participant, ParticipantState, Room
from sessions_app.rooms.protocol import CLOSE_ENDED, CLOSE_FORBIDDEN, CLOSE_LOCKED
from sessions_app.rooms.rows import (
    SEGMENT_OPENED,
    close_segments,
    open_segment,
    participant_for_update,
    room_for_update,
    visible_record,
)
from sessions_app.rooms.selectors import with_relationship
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.middleware import audit_context
from vioip.core.prepared import Prepared

logger = logging.getLogger("vioip.rooms")


class Refused(Exception):
    """A socket refused entry: it closes with ``code``; ``reason`` goes to the audit trail."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _at(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


# What an entry reads before it locks anything: the session and whether the user's
# relationship to its cohort holds now. One query, compiled once (vioip.core.prepared).
_ENTRANCE = Prepared(
    lambda session_id, user_id: (
        Session.objects.filter(pk=session_id)
        .annotate(
            staff_ok=Exists(
                staff_cohort_ids(user=UserRef(user_id)).filter(cohort_id=OuterRef("cohort_id"))
            ),
            patient_ok=Exists(
                active_patient_cohort_ids(user=UserRef(user_id)).filter(
                    cohort_id=OuterRef("cohort_id")
                )
            ),
        )
        .values_list(
            "kind", "patient_id", "status", "starts_at", "ends_at", "staff_ok", "patient_ok"
        )
    ),
    session_id=Prepared.INT,
    user_id=Prepared.INT,
)
# The room's row, locked first, then the user's place in it (rows.py has the order).
_ROOM_LOCKED = Prepared(
    lambda session_id: (
        Room.objects.select_for_update().filter(pk=session_id).values_list("locked", "waiting_room")
    ),
    session_id=Prepared.INT,
)
# What an entry reads of a place besides its id, session and user.
_PLACE_COLUMNS = ("is_staff", "state", "muted", "hand_raised", "online", "removed")
_PLACE_LOCKED = Prepared(
    lambda session_id, user_id: (
        Participant.objects.select_for_update()
        .filter(session_id=session_id, user_id=user_id)
        .values_list("id", *_PLACE_COLUMNS)
    ),
    session_id=Prepared.INT,
    user_id=Prepared.INT,
)
# The fields of a place as ``_PLACE_LOCKED`` and ``_ROOM_AND_PLACE`` read them, with the
# session and user between the id and the rest (the model's order).
_PLACE_FIELDS = ("id", "session_id", "user_id", *_PLACE_COLUMNS)
_PLACE_ENTERED = (
    "UPDATE rooms_participant SET is_staff = %s, state = %s, online = true, updated_at = %s "
    "WHERE id = %s"
)


def _entry_rule(*, user: User, entrance: tuple[Any, ...] | None) -> bool:
    """Whether ``user`` may enter now, given the session's ``_ENTRANCE`` row (None: no
    such session); returns whether they enter as staff."""
    if entrance is None:
        raise Refused(CLOSE_FORBIDDEN, "not_a_member")
    kind, patient_id, status, starts_at, ends_at, staff_ok, patient_ok = entrance
    if user.role in (Role.FACILITATOR, Role.CLINICIAN) and staff_ok:
        staff = True
    elif (
        user.role == Role.PATIENT
        and patient_ok
        and (kind not in PATIENT_KINDS or patient_id == user.pk)
    ):
        staff = False
    else:
        raise Refused(CLOSE_FORBIDDEN, "not_a_member")
    if status in (SessionStatus.CANCELLED, SessionStatus.ENDED):
        raise Refused(CLOSE_ENDED, "session_closed")
    if not staff:
        now = timezone.now()
        opens = starts_at - dt.timedelta(minutes=settings.ROOM_EARLY_ENTRY_MINUTES)
        if not opens <= now <= ends_at:
            raise Refused(CLOSE_FORBIDDEN, "outside_session_time")
    return staff


def room_enter(*, session_id: int, user: User, conn: str) -> Participant:
    """Admit a socket of ``user`` to the room, or raise ``Refused`` with a close code.

    A person is one participant however many sockets they open: only their first socket
    (or the first after the grace window) announces them. Entry and refusal are audited
    (the client address and request id come from the consumer's audit context).

    The socket's presence (one Redis round trip) is made before the room's row is
    locked, so the entries of one room, which take turns on that lock, each hold it for a
    few statements only; the relationship is checked in the statement that takes the
    lock (``_enter_locked``), and a refusal undoes the presence.
    """
    arrival: presence.Arrival | None = None
    try:
        arrival = _arrive(session_id=session_id, user_id=user.pk, conn=conn, sweep_first=True)
        # The entry and its audit event commit together.
        with transaction.atomic():
            participant = _enter_locked(session_id=session_id, user=user, audited=True)
    except Refused as refused:
        _undo(arrival)
        audit.record(**_denied(session_id=session_id, user=user, refused=refused))
        raise
    except BaseException:
        _undo(arrival)
        raise
    return participant


@dataclass(frozen=True)
class Entered:
    """A socket let in: who it is (and the bearer token it lives on), and their place."""

    bearer: tickets.Bearer
    participant: Participant


def ticket_enter(*, raw: str, session_id: int, conn: str) -> Entered | None:
    """A socket's ticket redeemed and, when it redeems, the entry (``room_enter``): one
    call, so one trip to a room thread instead of two. None: the ticket did not redeem
    (nobody is identified, nothing is audited here). ``Refused``: the entry was refused."""
    bearer = tickets.ticket_redeem(raw=raw, session_id=session_id)
    if bearer is None:
        return None
    participant = room_enter(session_id=session_id, user=bearer.user, conn=conn)
    return Entered(bearer=bearer, participant=participant)


@dataclass(frozen=True)
class Knock:
    """A socket at a room's door: its ticket, its name in presence (``conn``) and the
    audit context of its connection."""

    raw: str
    conn: str
    client_address: str
    request_id: str


def _context_of(knock: Knock) -> contextlib.AbstractContextManager[None]:
    return audit_context(client_address=knock.client_address, request_id=knock.request_id)


# What a knock comes to: let in, not identified (None), or refused or failed (the
# exception, ``Refused`` with its close code).
KnockResult = Entered | None | Exception


def _knock_alone(
    session_id: int, knock: Knock, bearer: tickets.Bearer | None = None
) -> KnockResult:
    """A knock entering on its own (``bearer``: its ticket already redeemed)."""
    with _context_of(knock):
        try:
            if bearer is None:
                return ticket_enter(raw=knock.raw, session_id=session_id, conn=knock.conn)
            participant = room_enter(session_id=session_id, user=bearer.user, conn=knock.conn)
            return Entered(bearer=bearer, participant=participant)
        except Exception as exc:
            return exc


def tickets_enter(*, session_id: int, knocks: Sequence[Knock]) -> list[KnockResult]:
    """``ticket_enter`` for the sockets waiting at one room's door in this process, in
    their order, each with its own outcome.

    On PostgreSQL they enter together: their presence first, then one transaction that
    locks the room, their places and the audit chain's head once, decides each entry by
    the same rule as alone (``_admit``), and writes every place, attendance stretch and
    audit event (entries and refusals) in one statement. A room's entries take turns on
    its lock, so in a reconnect storm each entry held it for its own statements; together
    they hold it once. Someone without a place yet gets it there (one read of their
    relationship, one insert). A second socket of someone in the same knock, and everyone
    at the door of a room that has no row yet, enter alone afterwards. The tickets are
    spent first, all in one commit. A failure of the shared part fails all its entries
    (their presence is undone) and leaves the tickets spent, as alone."""
    if len(knocks) == 1 or connection.vendor != "postgresql":
        return [_knock_alone(session_id, knock) for knock in knocks]
    outcomes: list[KnockResult] = [None] * len(knocks)
    together: dict[int, tuple[int, tickets.Bearer]] = {}
    alone: list[tuple[int, tickets.Bearer]] = []
    bearers: list[tickets.Bearer | None] = [None] * len(knocks)
    # The door's tickets are spent in one transaction (one commit, not one each), in the
    # order of their text, so two processes spending the same two cannot wait on each other.
    with transaction.atomic():
        for index in sorted(range(len(knocks)), key=lambda i: knocks[i].raw):
            bearers[index] = tickets.ticket_redeem(raw=knocks[index].raw, session_id=session_id)
    for index, bearer in enumerate(bearers):
        if bearer is None:
            continue
        if bearer.user.pk in together:
            alone.append((index, bearer))
        else:
            together[bearer.user.pk] = (index, bearer)
    if len(together) > 1:
        alone += _enter_together(session_id, knocks, together, outcomes)
    else:
        alone += together.values()
    for index, bearer in sorted(alone, key=lambda pair: pair[0]):
        outcomes[index] = _knock_alone(session_id, knocks[index], bearer)
    return outcomes


# A place as ``_PLACE_LOCKED`` reads it, after its user, then the session's ``_ENTRANCE``
# row for that user.
_TOGETHER_FIELDS = (
    "user_id",
    "id",
    *_PLACE_COLUMNS,
    "session__kind",
    "session__patient_id",
    "session__status",
    "session__starts_at",
    "session__ends_at",
    "staff_ok",
    "patient_ok",
)


_PLACES_LOCKED = Prepared(
    lambda session_id, user_ids: (
        with_relationship(
            Participant.objects.filter(session_id=session_id, user_id__any_of=user_ids)
        )
        .select_for_update(of=("self",))
        .order_by("id")
        .values_list(*_TOGETHER_FIELDS)
    ),
    session_id=Prepared.INT,
    user_ids=Prepared.INTS,
)


def _places_locked(session_id: int, user_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """The places of ``user_ids`` in the room, locked, each with the session's
    ``_ENTRANCE`` row for its user: (place as ``_PLACE_LOCKED`` reads it, entrance). The
    relationship is the one definition every room read uses (``with_relationship``)."""
    rows = _PLACES_LOCKED.rows(session_id=session_id, user_ids=user_ids)
    entrance_at = 2 + len(_PLACE_COLUMNS)  # after the user and the place's id and columns
    return {row[0]: (tuple(row[1:entrance_at]), tuple(row[entrance_at:])) for row in rows}


def _enter_together(
    session_id: int,
    knocks: Sequence[Knock],
    together: dict[int, tuple[int, tickets.Bearer]],
    outcomes: list[KnockResult],
) -> list[tuple[int, tickets.Bearer]]:
    """``tickets_enter``'s shared part: sets the outcomes of those it enters or refuses;
    returns those who enter alone (the room has no row yet)."""
    arrivals: dict[int, presence.Arrival] = {}
    later: list[tuple[int, tickets.Bearer]] = []
    refused: list[int] = []
    try:
        sockets = {user_id: knocks[index].conn for user_id, (index, _) in together.items()}
        _arrive_many(session_id, sockets, arrivals)
        with transaction.atomic():
            room = _ROOM_LOCKED.rows(session_id=session_id)
            places = _places_locked(session_id, list(together)) if room else {}
            locked, waiting_room = room[0] if room else (False, False)
            events: list[dict[str, Any]] = []
            writes: list[tuple[str, list[Any]]] = []
            entered: list[tuple[int, tickets.Bearer, _Admission]] = []
            for user_id, (index, bearer) in together.items():
                if not room:
                    later.append((index, bearer))  # the room's row is made alone, once
                    continue
                # Someone without a place yet gets it here, under the room's lock, as alone
                # (``_admit`` makes it once the entry rule lets them in).
                place, entrance = places.get(user_id) or (
                    None,
                    next(iter(_ENTRANCE.rows(session_id=session_id, user_id=user_id)), None),
                )
                context = {
                    "client_address": knocks[index].client_address,
                    "request_id": knocks[index].request_id,
                }
                try:
                    admission = _admit(
                        session_id=session_id,
                        user=bearer.user,
                        locked=locked,
                        waiting_room=waiting_room,
                        place=place,
                        entrance=entrance,
                    )
                except Refused as refusal:
                    outcomes[index] = refusal
                    refused.append(user_id)
                    events.append(
                        _denied(session_id=session_id, user=bearer.user, refused=refusal) | context
                    )
                    continue
                writes += [
                    (_PLACE_ENTERED, admission.entered),
                    (_SEGMENT_OPENED_IF, admission.opened),
                ]
                events.append(
                    _joined(
                        session_id=session_id, user=bearer.user, participant=admission.participant
                    )
                    | context
                )
                entered.append((index, bearer, admission))
            audit.record_many(events, writes=writes)
            for index, bearer, admission in entered:
                notify.notify_presence(
                    session_id=session_id,
                    before=admission.before,
                    after=visible_record(admission.participant),
                )
                outcomes[index] = Entered(bearer=bearer, participant=admission.participant)
    except BaseException as exc:
        for arrival in arrivals.values():
            _undo(arrival)
        if not isinstance(exc, Exception):
            raise
        for index, _ in together.values():
            outcomes[index] = exc
        return []
    # Those refused leave presence as they found it; those entering alone arrive again.
    for user_id in [*refused, *(bearer.user.pk for _, bearer in later)]:
        _undo(arrivals[user_id])
    return later


def enter(*, session_id: int, user: User, conn: str) -> Participant:
    """The entry itself, without ``room_enter``'s sweep first or its audit: the heartbeat
    brings back with it a socket that was swept while it was alive."""
    arrival = _arrive(session_id=session_id, user_id=user.pk, conn=conn, sweep_first=False)
    try:
        with transaction.atomic(savepoint=False):
            return _enter_locked(session_id=session_id, user=user)
    except BaseException:
        _undo(arrival)
        raise


def _arrive(*, session_id: int, user_id: int, conn: str, sweep_first: bool) -> presence.Arrival:
    """Make the socket present (``_arrive_many`` for one)."""
    arrivals: dict[int, presence.Arrival] = {}
    _arrive_many(session_id, {user_id: conn}, arrivals, sweep_first=sweep_first)
    return arrivals[user_id]


def _arrive_many(
    session_id: int,
    sockets: dict[int, str],
    arrivals: dict[int, presence.Arrival],
    *,
    sweep_first: bool = True,
) -> None:
    """Make one socket (conn) of each of several people of a room present, in one round
    trip, taking out each person's grace members (their earlier socket's close is not a
    leave now). With ``sweep_first``, expired sockets and graces go first, so a late
    reconnect is a fresh entry; only when there are any (two more round trips): a full
    sweep on every entry made a room's entries queue on its lock. (Presence lost
    altogether, say to a Redis restart, is the heartbeat's sweep.) Presence made before
    the entry is decided only ever keeps a person in: a leave checks it under the room's
    lock. Each arrival goes into ``arrivals`` as it is made, so a failure part way can
    undo those."""
    store = presence.store()
    now = presence.now()
    expires_at = presence.socket_expiry(now)
    for unless_expired in (True, False) if sweep_first else (False,):
        people = [(user_id, conn) for user_id, conn in sockets.items() if user_id not in arrivals]
        if not people:
            return
        if sweep_first and not unless_expired:
            room_sweep(session_id=session_id)
        made = store.arrive_many(
            session_id, people, at=now, expires_at=expires_at, unless_expired=unless_expired
        )
        for (user_id, _), arrival in zip(people, made, strict=True):
            if arrival is not None:
                arrivals[user_id] = arrival


def _undo(arrival: presence.Arrival | None) -> None:
    """A refused or failed entry leaves presence as it found it."""
    if arrival is None:
        return
    try:
        presence.store().undo(arrival)
    except Exception as exc:
        # The socket closes now: its member expires with the TTL, as a dead socket's does.
        logger.warning("room presence not restored error=%s", type(exc).__name__)


# On PostgreSQL the room's row and the user's place are locked in one statement, in the
# order every room write takes them (rows.py: the room first), and for an audited entry
# the audit chain's head after them; the same statement reads the session's
# ``_ENTRANCE`` row. No row: no place yet, no room row yet or no chain head yet; the
# general path below makes them.
_ROOM_AND_PLACE = """
SELECT r.locked, r.waiting_room,
       p.id, p.is_staff, p.state, p.muted, p.hand_raised, p.online, p.removed,
       entrance.*{columns}
FROM rooms_room r
JOIN rooms_participant p ON p.session_id = r.session_id AND p.user_id = %s
CROSS JOIN ({entrance}) entrance{join}
WHERE r.session_id = %s{where}
FOR UPDATE OF r, p{tables}
"""
# An admitted entry opens an attendance stretch unless one is open (the last parameter).
_SEGMENT_OPENED_IF = f"{SEGMENT_OPENED} AND %s"
# The place entered and the stretch opened: the two statements as one on PostgreSQL.
_ENTERED_ONE_STATEMENT = f"WITH entered AS ({_PLACE_ENTERED}) {_SEGMENT_OPENED_IF}"


@functools.cache
def _room_and_place_locked(head: bool) -> str:
    """``_ROOM_AND_PLACE`` written out, with or without the audit chain's head: once per
    process, as the entrance query's text does not depend on the values bound to it."""
    entrance, _ = _ENTRANCE.sql(session_id=0, user_id=0)
    return _ROOM_AND_PLACE.format(
        entrance=entrance,
        columns=f", {audit.HEAD_COLUMNS}" if head else "",
        join=f" {audit.HEAD_JOIN}" if head else "",
        where=f" AND {audit.HEAD_WHERE}" if head else "",
        tables=f", {audit.HEAD_ALIAS}" if head else "",
    )


@dataclass(frozen=True)
class _Locked:
    locked: bool
    waiting_room: bool
    place: tuple[Any, ...] | None
    entrance: tuple[Any, ...] | None
    # The audit chain's (seq, hash), locked too: PostgreSQL only, when asked for.
    head: tuple[int, str] | None = None


def _locked_place(*, session_id: int, user_id: int, head: bool) -> _Locked:
    """The room's flags and the user's place (None if they have none yet), both rows
    locked until commit, the room's first (its row made on first use), and the session's
    ``_ENTRANCE`` row for the user. On PostgreSQL one statement when the rows exist, which
    with ``head`` also locks and reads the audit chain's head."""
    if connection.vendor == "postgresql":
        _, entrance_params = _ENTRANCE.sql(session_id=session_id, user_id=user_id)
        with connection.cursor() as cursor:
            cursor.execute(_room_and_place_locked(head), [user_id, *entrance_params, session_id])
            row = cursor.fetchone()
        if row is not None:
            return _Locked(
                locked=bool(row[0]),
                waiting_room=bool(row[1]),
                place=tuple(row[2:9]),
                entrance=tuple(row[9:16]),
                head=(row[16], row[17]) if head else None,
            )
    entrance_rows = _ENTRANCE.rows(session_id=session_id, user_id=user_id)
    if not entrance_rows:
        # No such session: nothing to lock, and the entry rule refuses.
        return _Locked(locked=False, waiting_room=False, place=None, entrance=None)
    room = _ROOM_LOCKED.rows(session_id=session_id)
    if not room:
        room_for_update(Session.objects.get(pk=session_id))  # made on first use
        room = _ROOM_LOCKED.rows(session_id=session_id)
    locked, waiting_room = room[0]
    place = _PLACE_LOCKED.rows(session_id=session_id, user_id=user_id)
    return _Locked(
        locked=locked,
        waiting_room=waiting_room,
        place=tuple(place[0]) if place else None,
        entrance=tuple(entrance_rows[0]),
    )


@dataclass(frozen=True)
class _Admission:
    """An entry decided under the room's lock: the place as it will be, how the room saw
    it before, and the parameters of its two writes (``_PLACE_ENTERED`` and
    ``_SEGMENT_OPENED_IF``)."""

    participant: Participant
    before: dict[str, Any] | None
    entered: list[Any]
    opened: list[Any]
    now: dt.datetime
    admitted: bool


def _admit(
    *,
    session_id: int,
    user: User,
    locked: bool,
    waiting_room: bool,
    place: tuple[Any, ...] | None,
    entrance: tuple[Any, ...] | None,
) -> _Admission:
    """The entry rule applied to a user's locked place (None: none yet, made here) and
    the room's flags; raises ``Refused``. Writes nothing but a new place."""
    is_staff = _entry_rule(user=user, entrance=entrance)
    if place is not None:
        # As the ORM makes a model from a row: positional, which every entry makes.
        participant = Participant.from_db(
            connection.alias, _PLACE_FIELDS, (place[0], session_id, user.pk, *place[1:])
        )
        participant.user = user
    else:
        participant = Participant.objects.create(
            session_id=session_id, user=user, is_staff=is_staff, state=ParticipantState.WAITING
        )
    if participant.removed:
        raise Refused(CLOSE_FORBIDDEN, "removed")
    if locked and not is_staff and participant.state != ParticipantState.ADMITTED:
        raise Refused(CLOSE_LOCKED, "room_locked")

    before = visible_record(participant)
    participant.is_staff = is_staff
    if is_staff or not waiting_room:
        participant.state = ParticipantState.ADMITTED
    # Otherwise the state stays what it was: the waiting room admits no one by itself.
    participant.online = True
    now = timezone.now()
    at = connection.ops.adapt_datetimefield_value(now)
    admitted = participant.state == ParticipantState.ADMITTED
    return _Admission(
        participant=participant,
        before=before,
        entered=[participant.is_staff, participant.state, at, participant.pk],
        opened=[session_id, user.pk, at, session_id, user.pk, admitted],
        now=now,
        admitted=admitted,
    )


def _joined(*, session_id: int, user: User, participant: Participant) -> dict[str, Any]:
    """The audit event of an entry (the consumer's audit context, or the one passed)."""
    return {
        "action": Action.ROOM_JOIN,
        "actor": user,
        "object_type": "session",
        "object_id": session_id,
        "patient": user if user.role == Role.PATIENT else None,
        "detail": {"state": participant.state},
    }


def _denied(*, session_id: int, user: User, refused: Refused) -> dict[str, Any]:
    """The audit event of a refused entry."""
    return {
        "action": Action.ROOM_DENIED,
        "actor": user,
        "outcome": Outcome.DENIED,
        "object_type": "session",
        "object_id": session_id,
        "patient": user if user.role == Role.PATIENT else None,
        "detail": {"reason": refused.reason, "close_code": refused.code},
    }


def _enter_locked(*, session_id: int, user: User, audited: bool = False) -> Participant:
    """The database part of an entry, inside the caller's transaction; with ``audited``,
    its audit event too. Every entry makes it, so its statements are compiled once or
    written out: on PostgreSQL two round trips under the room's lock, the first of which
    also checks the relationship and the second also appends the audit event."""
    rows = _locked_place(session_id=session_id, user_id=user.pk, head=audited)
    admission = _admit(
        session_id=session_id,
        user=user,
        locked=rows.locked,
        waiting_room=rows.waiting_room,
        place=rows.place,
        entrance=rows.entrance,
    )
    participant = admission.participant
    joined = _joined(session_id=session_id, user=user, participant=participant)
    if rows.head is not None:
        writes = [(_PLACE_ENTERED, admission.entered), (_SEGMENT_OPENED_IF, admission.opened)]
        audit.record_on_locked_head(head=rows.head, writes=writes, **joined)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_ENTERED_ONE_STATEMENT, [*admission.entered, *admission.opened])
    else:
        with connection.cursor() as cursor:
            cursor.execute(_PLACE_ENTERED, admission.entered)
        if admission.admitted:
            open_segment(session_id=session_id, user_id=user.pk, at=admission.now)
    if audited and rows.head is None:
        audit.record(**joined)
    notify.notify_presence(
        session_id=session_id, before=admission.before, after=visible_record(participant)
    )
    return participant


@transaction.atomic
def room_leave(*, session_id: int, user_id: int, left_at: dt.datetime) -> bool:
    """Take ``user_id`` out of the room if no socket of theirs is live on any process.
    Closes their attendance segment at ``left_at``. Returns whether they left."""
    session = Session.objects.filter(pk=session_id).first()
    if session is None:
        return False
    room_for_update(session)
    participant = participant_for_update(session_id=session_id, user_id=user_id)
    if participant is None or not participant.online:
        return False
    # Checked under the room lock: a socket that entered meanwhile keeps them present.
    if user_id in presence.live_user_ids(session_id):
        return False
    before = visible_record(participant)
    participant.online = False
    participant.hand_raised = False
    participant.save(update_fields=["online", "hand_raised", "updated_at"])
    close_segments(session_id=session_id, user_id=user_id, at=left_at)
    notify.notify_presence(session_id=session_id, before=before, after=None)
    audit.record(
        action=Action.ROOM_LEAVE,
        actor=participant.user,
        object_type="session",
        object_id=session_id,
        patient=participant.user if participant.user.role == Role.PATIENT else None,
    )
    return True


@dataclass(frozen=True)
class Released:
    """What a closed socket means for its person: ``leave_at`` set, they leave now (no
    grace window); ``sweep_due``, the grace window runs and a sweep should follow it."""

    leave_at: dt.datetime | None = None
    sweep_due: bool = False


@dataclass(frozen=True)
class Release:
    """A socket that closed. ``final``: the room closed it (removal, end) and has already
    taken its person out. ``grace=False``: their access ended, so there is nothing to come
    back to; they leave now."""

    session_id: int
    user_id: int
    conn: str
    final: bool = False
    grace: bool = True


def socket_releases(*, releases: Sequence[Release]) -> list[Released]:
    """Sockets closed, each with what it means for its person: presence only, no
    database, and one round trip for all of them. A person stays present through the
    grace window if it was their last socket, so a quick reconnect is not a leave.

    Consumers run this off the room database threads, and the sockets closing at once in
    a process together (``threads.together``): when a room worker's sockets all close (a
    reconnect storm, a restart), each close would otherwise take its own turn on the
    presence thread and its own round trips, and daphne kills a close handler that is
    not done within ten seconds."""
    now = presence.now()
    seconds = settings.ROOM_GRACE_SECONDS

    def grace_until(release: Release) -> float | None:
        return now + seconds if seconds > 0 and release.grace and not release.final else None

    departures = [
        presence.Departure(release.session_id, release.user_id, release.conn, grace_until(release))
        for release in releases
    ]
    results = []
    for release, departure, live in zip(
        releases, departures, presence.store().depart_many(departures, now), strict=True
    ):
        if release.final or live:
            results.append(Released())
        elif departure.grace_until is None:
            results.append(Released(leave_at=_at(now)))
        else:
            results.append(Released(sweep_due=True))
    return results


def room_sweep(*, session_id: int) -> list[int]:
    """Remove expired sockets and grace entries (any process may do it; each entry is
    handled once) and take out the people who have nothing live left — including anyone
    the database has in the room with no presence at all (their presence was lost, say a
    Redis restart), who leave now."""
    return rooms_swept([session_id])[session_id]


_ONLINE = Prepared(
    lambda session_ids: Participant.objects.filter(
        session_id__any_of=session_ids, online=True
    ).values_list("session_id", "user_id"),
    session_ids=Prepared.INTS,
)


def rooms_swept(session_ids: Sequence[int]) -> dict[int, list[int]]:
    """``room_sweep`` for several rooms: one presence round trip and one query for all of
    them, however many rooms; only the people who leave cost more (their ``room_leave``).
    A process's heartbeat sweeps a slice of its rooms every second; one sweep per room
    was three round trips each, on a room thread that waits for the GIL of a busy event
    loop after every one. Returns who left, by room."""
    session_ids = list(dict.fromkeys(session_ids))
    if not session_ids:
        return {}
    now = presence.now()
    swept = presence.store().sweep_many(session_ids, now)
    online: dict[int, list[int]] = {session_id: [] for session_id in session_ids}
    for session_id, user_id in _ONLINE.rows(session_ids=session_ids):
        online[session_id].append(user_id)
    left: dict[int, list[int]] = {}
    for session_id, room in zip(session_ids, swept, strict=True):
        last_seen: dict[int, float] = {}
        for member in room.expired:
            last_seen[member.user_id] = max(last_seen.get(member.user_id, 0.0), member.left_at)
        live = {member.user_id for member in room.live}
        for user_id in online[session_id]:
            if user_id not in live:
                last_seen.setdefault(user_id, now)
        # Someone live again (reconnected within the grace window) stays: room_leave
        # would say so under the room's lock, but only after taking it. It checks again
        # under the lock for those who are not.
        left[session_id] = [
            user_id
            for user_id, seen in last_seen.items()
            if user_id not in live
            and room_leave(session_id=session_id, user_id=user_id, left_at=_at(seen))
        ]
    return left


# How many rooms one sweep round trip carries (``rooms_sweep``).
SWEEP_BATCH = 200


def rooms_sweep() -> int:
    """Sweep every room someone is in; for a periodic job, so a room whose last process
    died with nobody left to notice still closes its attendance. Returns how many left."""
    session_ids = list(
        Participant.objects.filter(online=True)
        .order_by("session_id")
        .values_list("session_id", flat=True)
        .distinct()
    )
    return sum(
        len(people)
        for start in range(0, len(session_ids), SWEEP_BATCH)
        for people in rooms_swept(session_ids[start : start + SWEEP_BATCH]).values()
    )
