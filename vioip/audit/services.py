"""The only way audit events are written: ``record(...)``."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from vioip.audit.models import Action, AuditChainHead, AuditEvent, Outcome
from vioip.core.middleware import current_client_address, current_request_id
from vioip.core.prepared import Prepared

GENESIS = "0" * 64


def canonical_payload(event: AuditEvent) -> bytes:
    payload = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "actor_username": event.actor_username,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "patient": event.patient_id,
        "outcome": event.outcome,
        "request_id": event.request_id,
        "client_address": event.client_address,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(event: AuditEvent) -> str:
    return hmac.new(
        settings.AUDIT_KEY.encode(), canonical_payload(event), hashlib.sha256
    ).hexdigest()


def _mac(message: bytes) -> str:
    return hmac.new(settings.AUDIT_KEY.encode(), message, hashlib.sha256).hexdigest()


def head_mac(seq: int, head_hash: str) -> str:
    """The chain head's signature: HMAC with the audit key over (seq, hash)."""
    return _mac(f"vioip-audit-head:{seq}:{head_hash}".encode())


# The head is read and moved by every audited event: compiled once, a plain UPDATE.
_HEAD_LOCKED = Prepared(
    lambda: AuditChainHead.objects.select_for_update().filter(pk=1).values_list("seq", "hash")
)
_HEAD_MOVED = "UPDATE audit_auditchainhead SET seq = %s, hash = %s, mac = %s WHERE id = 1"


def _locked_head() -> tuple[int, str]:
    """The chain's (seq, hash), its row locked until the caller's transaction ends."""
    rows = _HEAD_LOCKED.rows()
    if rows:
        return rows[0]
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(pk=1, seq=0, hash=GENESIS, mac=head_mac(0, GENESIS))
    except IntegrityError:
        pass  # another writer created it first
    return _HEAD_LOCKED.rows()[0]


# ``Choices.values`` builds its list on every read.
_ACTIONS = frozenset(Action.values)
_OUTCOMES = frozenset(Outcome.values)


def _build_event(
    *,
    action: str,
    actor: Any = None,
    outcome: str = Outcome.ALLOWED,
    object_type: str = "",
    object_id: Any = "",
    patient: Any = None,
    client_address: str | None = None,
    request_id: str | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    if action not in _ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}.")
    if outcome not in _OUTCOMES:
        raise ValueError(f"Unknown audit outcome {outcome!r}.")
    actor_obj = actor if getattr(actor, "pk", None) is not None else None
    return AuditEvent(
        occurred_at=timezone.now(),
        actor=actor_obj,
        actor_username=getattr(actor_obj, "username", "") or "",
        actor_role=getattr(actor_obj, "role", "") or "",
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id not in (None, "") else "",
        patient_id=getattr(patient, "pk", patient),
        outcome=outcome,
        request_id=(request_id or current_request_id.get())[:64],
        client_address=(client_address or current_client_address.get())[:64],
        detail=detail or {},
    )


# Every audited event is inserted while the chain head is locked: one plain statement,
# where bulk_create built and compiled an INSERT for each call (a room entry's audit was
# 10 % of its CPU). The fields' own conversions still make the values.
_INSERT = (
    "INSERT INTO audit_auditevent (seq, occurred_at, actor_id, actor_username, actor_role,"
    " action, object_type, object_id, patient_id, outcome, request_id, client_address,"
    " detail, prev_hash, hash) VALUES "
)
_COLUMNS = {field.column: field for field in AuditEvent._meta.concrete_fields}
_INSERTED = tuple(
    _COLUMNS[column] for column in _INSERT.split("(", 1)[1].split(")", 1)[0].split(", ")
)
if set(_INSERTED) != {field for field in _COLUMNS.values() if not field.primary_key}:
    raise ImproperlyConfigured("The audit INSERT does not name every column of AuditEvent.")
_INSERT_ROW = "(" + ", ".join(["%s"] * len(_INSERTED)) + ")"


def _insert(
    events: list[AuditEvent], head: list[Any], writes: Sequence[tuple[str, Sequence[Any]]] = ()
) -> None:
    """Insert ``events`` and move the chain head to ``head`` (seq, hash, mac): on
    PostgreSQL one statement, one round trip fewer while every writer waits on the head,
    which also carries the caller's ``writes`` (see ``record_on_locked_head``)."""
    params = [
        field.get_db_prep_save(getattr(event, field.attname), connection)
        for event in events
        for field in _INSERTED
    ]
    statement = _INSERT + ", ".join([_INSERT_ROW] * len(events)) + " RETURNING id"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ctes = [f"written_{n} AS ({sql})" for n, (sql, _) in enumerate(writes)]
            ctes.append(f"moved AS ({_HEAD_MOVED})")
            written = [value for _, values in writes for value in values]
            cursor.execute(f"WITH {', '.join(ctes)} {statement}", [*written, *head, *params])
            ids = cursor.fetchall()
        else:
            if writes:
                raise ImproperlyConfigured("Writes go with an audit append on PostgreSQL only.")
            cursor.execute(statement, params)
            ids = cursor.fetchall()
            cursor.execute(_HEAD_MOVED, head)
    for event, (pk,) in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias


def _append(
    events: list[AuditEvent],
    head: tuple[int, str] | None = None,
    writes: Sequence[tuple[str, Sequence[Any]]] = (),
) -> list[AuditEvent]:
    # No savepoint inside a caller's transaction (two round trips of the few an entry
    # makes): if the append fails, the caller's transaction fails with it, as it must.
    with transaction.atomic(savepoint=False):
        seq, prev_hash = head if head is not None else _locked_head()
        for event in events:
            seq += 1
            event.seq = seq
            event.prev_hash = prev_hash
            event.hash = event_hash(event)
            prev_hash = event.hash
        _insert(events, [seq, prev_hash, head_mac(seq, prev_hash)], writes)
    return events


def record(**fields: Any) -> AuditEvent:
    """Append one event to the chain.

    Keyword arguments: ``action`` (an ``Action``), ``actor``, ``outcome``, ``object_type``,
    ``object_id``, ``patient`` (user or id), ``client_address`` and ``request_id`` (default:
    the audit context that the HTTP middleware and the room consumer set), ``detail``.
    ``detail`` holds identifiers and codes only — never clinical text or anything a patient
    typed. The head row is locked
    for the rest of the caller's transaction, so concurrent writers on every process keep
    a single chain.
    """
    return _append([_build_event(**fields)])[0]


# For a writer on PostgreSQL whose own locking statement also locks the chain head,
# joined last as every writer takes the head after its own rows:
#   SELECT ..., {HEAD_COLUMNS} FROM ... {HEAD_JOIN} WHERE ... AND {HEAD_WHERE}
#   FOR UPDATE OF ..., {HEAD_ALIAS}
# No row when the head does not exist yet: that writer then takes ``record``'s path.
HEAD_ALIAS = "audit_head"
HEAD_JOIN = f"CROSS JOIN {AuditChainHead._meta.db_table} {HEAD_ALIAS}"
HEAD_WHERE = f"{HEAD_ALIAS}.id = 1"
HEAD_COLUMNS = f"{HEAD_ALIAS}.seq, {HEAD_ALIAS}.hash"


def record_on_locked_head(
    *, head: tuple[int, str], writes: Sequence[tuple[str, Sequence[Any]]] = (), **fields: Any
) -> AuditEvent:
    """``record`` for a caller on PostgreSQL whose transaction has already locked the
    chain head and read it as ``head`` (seq, hash) with ``HEAD_JOIN``: the event goes in
    one statement with the caller's own ``writes`` (UPDATE or INSERT statements, with
    their parameters, run as parts of it), so a write and its audit event are one round
    trip."""
    if not connection.in_atomic_block:
        raise ImproperlyConfigured("The chain head is locked only inside a transaction.")
    return _append([_build_event(**fields)], head=head, writes=writes)[0]


def record_many(
    entries: Iterable[dict[str, Any]], *, writes: Sequence[tuple[str, Sequence[Any]]] = ()
) -> list[AuditEvent]:
    """Append several events under one lock and one insert (e.g. every row of a list
    response): the cost stays constant however many rows a page holds. On PostgreSQL the
    caller's ``writes`` (as for ``record_on_locked_head``) go in the same statement, so a
    batch of writes and their events are one round trip after the head's lock."""
    events = [_build_event(**fields) for fields in entries]
    if not events:
        return []
    return _append(events, writes=writes)


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    count: int
    first_broken_seq: int | None = None
    problem: str = ""


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the trail had ``seq`` events ending in ``hash`` at ``time``."""

    seq: int
    hash: str
    time: str
    mac: str

    def to_line(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "time": self.time, "mac": self.mac},
            sort_keys=True,
            separators=(",", ":"),
        )


class CheckpointError(Exception):
    """A checkpoint that cannot be read or whose signature does not authenticate."""


def _checkpoint_mac(seq: int, head_hash: str, time: str) -> str:
    body = json.dumps({"hash": head_hash, "seq": seq, "time": time}, sort_keys=True)
    return _mac(b"vioip-audit-checkpoint:" + body.encode())


def checkpoint_take() -> Checkpoint:
    """Sign the current chain head, for a store outside the database.

    Refuses (``CheckpointError``) when the head does not authenticate or its last event
    is not where the head says: a checkpoint must never vouch for a tampered head.
    """
    head = AuditChainHead.objects.filter(pk=1).first()
    seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS)
    if head is not None and not hmac.compare_digest(head.mac, head_mac(seq, head_hash)):
        raise CheckpointError("the chain head does not authenticate")
    if seq and not AuditEvent.objects.filter(seq=seq, hash=head_hash).exists():
        raise CheckpointError("the chain head does not match the last event")
    time = timezone.now().isoformat(timespec="seconds")
    return Checkpoint(seq, head_hash, time, _checkpoint_mac(seq, head_hash, time))


def checkpoint_parse(line: str) -> Checkpoint:
    """Read one checkpoint line; ``CheckpointError`` if malformed or not signed by our key."""
    try:
        data = json.loads(line)
        checkpoint = Checkpoint(
            seq=data["seq"], hash=data["hash"], time=data["time"], mac=data["mac"]
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise CheckpointError("not a checkpoint line") from exc
    if not (
        isinstance(checkpoint.seq, int)
        and checkpoint.seq >= 0
        and isinstance(checkpoint.hash, str)
        and isinstance(checkpoint.time, str)
        and isinstance(checkpoint.mac, str)
    ):
        raise CheckpointError("not a checkpoint line")
    expected = _checkpoint_mac(checkpoint.seq, checkpoint.hash, checkpoint.time)
    if not hmac.compare_digest(checkpoint.mac, expected):
        raise CheckpointError("the checkpoint's signature does not authenticate")
    return checkpoint


def chain_verify(*, batch_size: int = 2000, checkpoints: Sequence[Checkpoint] = ()) -> ChainReport:
    """Walk the chain in order; report the first problem.

    Problems: an event missing, altered or unlinked; a trail shorter than, or diverging
    from, any of ``checkpoints`` (already authenticated, see ``checkpoint_parse``); a
    chain head that does not authenticate or does not match the last event; an empty
    trail in a database that has users (the trail was emptied and the head reset).
    """
    pinned: dict[int, str] = {}
    for checkpoint in checkpoints:
        pinned.setdefault(checkpoint.seq, checkpoint.hash)
        if pinned[checkpoint.seq] != checkpoint.hash:
            return ChainReport(
                False, 0, checkpoint.seq, "two checkpoints disagree about the same event"
            )
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    for event in AuditEvent.objects.order_by("seq").iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return ChainReport(False, count, expected_seq, "event missing (deleted)")
        if event.prev_hash != prev_hash:
            return ChainReport(False, count, event.seq, "link to previous event broken")
        if not hmac.compare_digest(event.hash, event_hash(event)):
            return ChainReport(False, count, event.seq, "event altered")
        if event.seq in pinned and not hmac.compare_digest(pinned[event.seq], event.hash):
            return ChainReport(
                False, count, event.seq, "trail diverges from a checkpoint (events replaced)"
            )
        prev_hash = event.hash
        expected_seq += 1
        count += 1
    longest = max(pinned, default=0)
    if longest > count:
        return ChainReport(
            False,
            count,
            count + 1,
            f"trail is shorter than a checkpoint ({count} events, checkpoint at seq {longest})",
        )
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is None:
        if count:
            return ChainReport(False, count, None, "chain head missing")
    elif not hmac.compare_digest(head.mac, head_mac(head.seq, head.hash)):
        return ChainReport(False, count, None, "chain head does not authenticate (moved or forged)")
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS
    if head_seq != count or head_hash != prev_hash:
        return ChainReport(False, count, count + 1, "events missing at the end of the chain")
    if count == 0 and get_user_model().objects.exists():
        return ChainReport(False, 0, None, "trail is empty in a database that has users (emptied)")
    return ChainReport(True, count)
