"""Access ends everywhere at once.

Whatever takes access away from a user (deactivation, logout, a password or role change,
a discharge, a care-team removal) calls ``access_changed`` inside its transaction. Once
the transaction commits, every process holding a live room socket of that user is told
through the channel layer; each socket then re-checks its access against the database
and closes with the documented code if it is gone. The layer is at-most-once, so the
room heartbeat re-checks every socket too: a lost message delays a close, never skips it.

This module names only the group and the event; the room consumer (sessions_app) joins the
group and handles ``access.changed``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("vioip.access")

EVENT_TYPE = "access.changed"


def access_group(user_id: int) -> str:
    """The channel-layer group every live socket of ``user_id`` belongs to."""
    return f"access.user.{user_id}"


def _publish(user_ids: list[int], reason: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for user_id in user_ids:
        try:
            async_to_sync(layer.group_send)(
                access_group(user_id), {"type": EVENT_TYPE, "reason": reason}
            )
        except Exception as exc:
            # The heartbeat's own re-check closes the socket later; the change stands.
            logger.warning("access change not published error=%s", type(exc).__name__)


def access_changed(*, user_ids: Iterable[int], reason: str) -> None:
    """Have every open socket of these users re-check its access once the current
    transaction commits (at once outside a transaction). ``reason`` is a code
    (``logout``, ``deactivated``, ``discharge``…), never free text."""
    ids = sorted({int(i) for i in user_ids})
    if ids:
        transaction.on_commit(lambda: _publish(ids, reason))
