"""Login throttling that protects without locking people out.

Failed logins are counted in the shared cache (Redis in production), so every process
sees the same counts:

- per (username, address) and per address, tightly: past
  ``LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS`` / ``LOGIN_FAILURES_PER_ADDRESS`` failures in a
  window of ``LOGIN_FAILURE_WINDOW_MINUTES`` (counted from the first failure), that address
  is refused until the window ends. One client guessing, or spraying names, stops here.
- per username from any address, loosely: from the ``LOGIN_FAILURES_PER_USERNAME``-th
  failure on, each failure makes the next attempt wait ``LOGIN_USERNAME_DELAY_SECONDS``,
  doubling per further failure up to ``LOGIN_USERNAME_DELAY_MAX_SECONDS``. Guessing from
  many addresses is slowed, but the account's owner gets in once the delay has passed.

A refused attempt is never checked against the password (no oracle) and counts toward
nothing. A success clears the username's own counters, never the address's. Keys hold a
keyed digest of the username, never the typed text.
"""

from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from vioip.audit.noise import typed_text_digest


@dataclass(frozen=True)
class Refusal:
    retry_after: int  # seconds
    scope: str  # "username_address", "address" or "username"


def _window_seconds() -> int:
    return int(settings.LOGIN_FAILURE_WINDOW_MINUTES) * 60


def _user(username: str) -> str:
    return typed_text_digest(username)


def _generation(user: str) -> str:
    # ``unlock`` replaces it, which orphans the (username, address) counters of every address.
    return str(cache.get(f"login:gen:{user}") or "0")


def _keys(username: str, address: str) -> dict[str, str]:
    user = _user(username)
    return {
        "username_address": f"login:pair:{user}:{_generation(user)}:{address or '-'}",
        "address": f"login:addr:{address or '-'}",
        "username": f"login:user:{user}",
        "wait": f"login:wait:{user}",
    }


def check(*, username: str, address: str) -> Refusal | None:
    """Whether an attempt for ``username`` from ``address`` may be checked now."""
    keys = _keys(username, address)
    values = cache.get_many(
        [
            keys["username_address"],
            f"{keys['username_address']}:ends",
            keys["address"],
            f"{keys['address']}:ends",
            keys["wait"],
        ]
    )
    now = time.time()
    refusals = []
    limits = {
        "username_address": settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS,
        "address": settings.LOGIN_FAILURES_PER_ADDRESS,
    }
    for scope, limit in limits.items():
        ends = float(values.get(f"{keys[scope]}:ends") or now + _window_seconds())
        if int(values.get(keys[scope]) or 0) >= limit and ends > now:
            refusals.append(Refusal(retry_after=max(1, math.ceil(ends - now)), scope=scope))
    wait_until = values.get(keys["wait"])
    if wait_until is not None and now < float(wait_until):
        refusals.append(
            Refusal(retry_after=max(1, math.ceil(float(wait_until) - now)), scope="username")
        )
    return max(refusals, key=lambda refusal: refusal.retry_after, default=None)


def _count_in_window(key: str, window: int, now: float) -> int:
    # The window is fixed by its first failure and judged by the time it ends, not only by
    # the cache's expiry (which a skewed clock could outlast). add() is atomic; incr() then
    # counts on every process sharing the cache.
    ends = cache.get(f"{key}:ends")
    if ends is not None and float(ends) <= now:
        cache.delete_many([key, f"{key}:ends"])
    cache.add(f"{key}:ends", now + window, timeout=window)
    cache.add(key, 0, timeout=window)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window)
        return 1


def count_failure(*, username: str, address: str) -> None:
    keys = _keys(username, address)
    window = _window_seconds()
    now = time.time()
    _count_in_window(keys["username_address"], window, now)
    _count_in_window(keys["address"], window, now)
    # The username's count slides: it lasts a window after its latest failure.
    cache.add(keys["username"], 0, timeout=window)
    try:
        failures = int(cache.incr(keys["username"]))
    except ValueError:
        cache.set(keys["username"], 1, timeout=window)
        failures = 1
    cache.touch(keys["username"], timeout=window)
    beyond = failures - int(settings.LOGIN_FAILURES_PER_USERNAME)
    if beyond >= 0:
        delay = min(
            settings.LOGIN_USERNAME_DELAY_SECONDS * 2 ** min(beyond, 32),
            settings.LOGIN_USERNAME_DELAY_MAX_SECONDS,
        )
        cache.set(keys["wait"], now + delay, timeout=math.ceil(delay) + 1)


def clear_after_success(*, username: str, address: str) -> None:
    keys = _keys(username, address)
    cache.delete_many(
        [
            keys["username_address"],
            f"{keys['username_address']}:ends",
            keys["username"],
            keys["wait"],
        ]
    )


def unlock(*, username: str) -> None:
    """Clear every counter of ``username`` (from every address); the address counters stay."""
    user = _user(username)
    # A new generation orphans the (username, address) counters. It never expires: were it
    # to, the counters made under it would be orphaned early.
    cache.set(f"login:gen:{user}", secrets.token_hex(8), timeout=None)
    cache.delete_many([f"login:user:{user}", f"login:wait:{user}"])
