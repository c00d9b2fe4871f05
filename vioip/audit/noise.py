"""Failures of callers nobody has identified yet (a bad room ticket, a throttled login, a
failed login under a name that matches no account) are coalesced per client address before
they reach the trail.

Each (action, address) writes at most one event per minute as it happens: the first
failure of that minute, so an investigator sees an attack start at once. The failures of
the minute after the first are only counted; once the minute is over, one more event
(``detail.coalesced`` true, ``detail.suppressed`` the count) writes the count into the
trail. That second event is written by whichever call of this module comes first after the
minute (any action, any address) or by ``flush_due()``, which the minute sweep calls, so a
spray that stops is still counted. A client spraying bogus tickets or passwords thus costs
the chain at most two locked appends a minute, not one per attempt.

Typed text of an unidentified caller (a username that matches no account, sometimes a
password typed in the wrong field) never reaches the trail as text: ``typed_text_digest``
gives a keyed, truncated hash that still lets an auditor see repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache

from vioip.audit import services as audit
from vioip.audit.models import Outcome

WINDOW_SECONDS = 60
# Held counts and the window index outlive their window so a late flush can still write them.
_TTL = 24 * 3600
# How many ended windows a call looks back over to flush (the sweep covers the rest).
_LOOKBACK_WINDOWS = 15
_DIGEST_HEX_CHARS = 24


def typed_text_digest(value: str) -> str:
    """HMAC-SHA256 (keyed with ``AUDIT_KEY``) of what an unidentified caller typed,
    case-folded and truncated: equal inputs give equal digests, the text is not kept."""
    normalized = value.strip().casefold().encode("utf-8", "surrogatepass")
    digest = hmac.new(settings.AUDIT_KEY.encode(), normalized, hashlib.sha256).hexdigest()
    return digest[:_DIGEST_HEX_CHARS]


def _window_now() -> int:
    return int(time.time()) // WINDOW_SECONDS


def _base(action: str, address: str) -> str:
    return f"audit-noise:{action}:{address or '-'}"


def _incr(key: str) -> int:
    cache.add(key, 0, timeout=_TTL)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_TTL)
        return 1


def unauthenticated_failure(
    *,
    action: str,
    client_address: str,
    object_type: str = "",
    object_id: Any = "",
    actor: Any = None,
    detail: dict[str, Any] | None = None,
) -> bool:
    """Record a refused attempt of a caller not yet identified, coalesced per address
    and minute. ``detail`` holds codes and digests only, never typed text. Returns whether
    an event was written for this attempt (False: counted, written with the minute's
    count later)."""
    window = _window_now()
    flush_due(before_window=window, lookback=_LOOKBACK_WINDOWS)
    base = _base(action, client_address)
    if not cache.add(f"{base}:w:{window}", 1, timeout=_TTL):
        _incr(f"{base}:held:{window}")
        return False
    # Index this (action, address) under its window, so the flush finds its count.
    slot = _incr(f"audit-noise:slots:{window}")
    cache.set(
        f"audit-noise:slot:{window}:{slot}",
        {"action": action, "client_address": client_address, "object_type": object_type},
        timeout=_TTL,
    )
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        client_address=client_address,
        detail={**(detail or {}), "coalesced": False, "suppressed": 0},
    )
    return True


def flush_due(*, before_window: int | None = None, lookback: int = 24 * 60) -> int:
    """Write the counts of ended minutes (those before ``before_window``, default the
    current one) not yet written, looking back at most ``lookback`` minutes. Each minute is
    flushed once, by whichever process claims it. Returns the number of events written."""
    current = _window_now() if before_window is None else before_window
    windows = range(current - lookback, current)
    # One round trip for the common case: nothing to flush.
    indexed = cache.get_many([f"audit-noise:slots:{window}" for window in windows])
    written = 0
    for window in windows:
        if f"audit-noise:slots:{window}" not in indexed:
            continue
        if not cache.add(f"audit-noise:flushed:{window}", 1, timeout=_TTL):
            continue
        written += _flush_window(window)
    return written


def _flush_window(window: int) -> int:
    slots = int(cache.get(f"audit-noise:slots:{window}") or 0)
    entries = []
    for slot in range(1, slots + 1):
        entry = cache.get(f"audit-noise:slot:{window}:{slot}")
        if not entry:
            continue
        held_key = f"{_base(entry['action'], entry['client_address'])}:held:{window}"
        held = int(cache.get(held_key) or 0)
        if not held:
            continue
        cache.delete(held_key)
        entries.append(
            {
                "action": entry["action"],
                "outcome": Outcome.DENIED,
                "object_type": entry["object_type"],
                "client_address": entry["client_address"],
                # The flush may run in another request: its id is not this minute's.
                "request_id": "-",
                "detail": {
                    "coalesced": True,
                    "suppressed": held,
                    "window_start": window * WINDOW_SECONDS,
                },
            }
        )
    cache.delete(f"audit-noise:slots:{window}")
    if entries:
        audit.record_many(entries)
    return len(entries)
