"""Failures of callers nobody has identified yet (a bad room ticket, a throttled or failed
login from an unknown name) are counted per client address before they reach the trail.

Each writes at most one event per (action, address) per minute; the failures of that
minute after the first are counted, and the next event written for the same action and
address carries the count of those held back (``detail.suppressed``). A client spraying
bogus tickets or passwords thus costs the chain one locked append a minute, not one per
attempt, and the trail still says how many there were.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.cache import cache

from vioip.audit import services as audit
from vioip.audit.models import Outcome

WINDOW_SECONDS = 60
# Counts outlive their window so the next event can report them.
_COUNT_TTL = 24 * 3600


def _keys(action: str, address: str, window: int) -> tuple[str, str]:
    base = f"audit-noise:{action}:{address or '-'}"
    return f"{base}:w:{window}", f"{base}:held"


def _incr(key: str) -> int:
    cache.add(key, 0, timeout=_COUNT_TTL)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=_COUNT_TTL)
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
    """Record a refused, unidentified attempt, coalesced per address and minute.
    Returns whether an event was written (False: counted toward the next one)."""
    window = int(time.time()) // WINDOW_SECONDS
    window_key, held_key = _keys(action, client_address, window)
    if not cache.add(window_key, 1, timeout=WINDOW_SECONDS * 2):
        _incr(held_key)
        return False
    held = int(cache.get(held_key, 0) or 0)
    if held:
        cache.delete(held_key)
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        object_type=object_type,
        object_id=object_id,
        client_address=client_address,
        detail={**(detail or {}), "suppressed": held},
    )
    return True
