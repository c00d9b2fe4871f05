"""Access ends everywhere at once.

Whatever takes access away from a user (deactivation, logout, a password or role change,
a discharge, a care-team removal) calls ``access_changed`` inside its transaction. Once
the transaction commits, one ``access.changed`` naming the users goes to the channel
layer's access group, which every process holding live room sockets listens to; each of
those users' sockets then re-checks its access against the database and closes with the
documented code if it is gone. The layer is at-most-once, so the
room heartbeat re-checks every socket too: a lost message delays a close, never skips it.

This module names only the group and the event; the rooms' fan-out (sessions_app) joins the
group and hands the event to the named users' sockets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger("vioip.access")

EVENT_TYPE = "access.changed"
# One group for every user: a process hears all changes (a few a minute) and keeps no
# subscription per user, so a socket's entry and exit subscribe to nothing.
ACCESS_GROUP = "access"


def _publish(user_ids: list[int], reason: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            ACCESS_GROUP, {"type": EVENT_TYPE, "user_ids": user_ids, "reason": reason}
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
