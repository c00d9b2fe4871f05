"""The only way audit events are written: ``record(...)``."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from vioip.audit.models import Action, AuditChainHead, AuditEvent, Outcome
from vioip.core.middleware import current_client_address, current_request_id

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


def _locked_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    try:
        with transaction.atomic():
            AuditChainHead.objects.create(pk=1, seq=0, hash=GENESIS)
    except IntegrityError:
        pass  # another writer created it first
    return AuditChainHead.objects.select_for_update().get(pk=1)


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
    if action not in Action.values:
        raise ValueError(f"Unknown audit action {action!r}.")
    if outcome not in Outcome.values:
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


def _append(events: list[AuditEvent]) -> list[AuditEvent]:
    with transaction.atomic():
        head = _locked_head()
        seq, prev_hash = head.seq, head.hash
        for event in events:
            seq += 1
            event.seq = seq
            event.prev_hash = prev_hash
            event.hash = event_hash(event)
            prev_hash = event.hash
        AuditEvent.objects.bulk_create(events)
        head.seq, head.hash = seq, prev_hash
        head.save(update_fields=["seq", "hash"])
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


def record_many(entries: Iterable[dict[str, Any]]) -> list[AuditEvent]:
    """Append several events under one lock and one insert (e.g. every row of a list
    response): the cost stays constant however many rows a page holds."""
    events = [_build_event(**fields) for fields in entries]
    if not events:
        return []
    return _append(events)


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    count: int
    first_broken_seq: int | None = None
    problem: str = ""


def chain_verify(*, batch_size: int = 2000) -> ChainReport:
    """Walk the chain in order; report the first event whose link or hash is wrong."""
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
        prev_hash = event.hash
        expected_seq += 1
        count += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq = head.seq if head else 0
    head_hash = head.hash if head else GENESIS
    if head_seq != count or head_hash != prev_hash:
        return ChainReport(False, count, count + 1, "events missing at the end of the chain")
    return ChainReport(True, count)
