"""What the apps above the core do when a user's role changes.

The core knows no app, so an app that keeps role-bound relations registers a function
here in its ``AppConfig.ready``; ``user_update`` calls each inside its transaction. Explicit
calls, not signals: the list is short and read in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vioip.accounts.models import User

# Each is called as fn(actor=..., user=..., old_role=...) after the role is saved.
ROLE_CHANGE_HOOKS: list[Callable[..., None]] = []


def on_role_change(fn: Callable[..., None]) -> Callable[..., None]:
    if fn not in ROLE_CHANGE_HOOKS:
        ROLE_CHANGE_HOOKS.append(fn)
    return fn


def role_changed(*, actor: User, user: User, old_role: str) -> None:
    for fn in ROLE_CHANGE_HOOKS:
        fn(actor=actor, user=user, old_role=old_role)
