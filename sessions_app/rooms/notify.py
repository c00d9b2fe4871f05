"""Room side effects: frames sent to a room's sockets after the transaction commits.

Each frame is serialised once per event, not once per recipient; the consumer forwards the
text to the sockets of the audience it is meant for. The channel layer is at-most-once, so
nothing here is needed for correctness: clients recover chat from history and state from
``room.state``; consumers reconcile their state with the database on every heartbeat.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from sessions_app.rooms.fanout import room_group
from sessions_app.rooms.protocol import encode

logger = logging.getLogger("vioip.rooms")

# A channel-layer group and the event sent to it.
Event = tuple[str, dict[str, Any]]

# Room events committed during a database call made by a consumer wait here, so the
# consumer publishes them on its event loop once the call returns (the transaction has
# committed, so store-before-broadcast holds). Publishing from the database thread would
# block the one thread every socket of the process shares on a Redis round trip.
_outbox: ContextVar[list[Event] | None] = ContextVar("room_outbox", default=None)


class BroadcastFailed(Exception):
    """The call committed, but its room events could not be published."""

    def __init__(self, result: Any) -> None:
        super().__init__("room broadcast failed")
        self.result = result


@contextlib.contextmanager
def held(events: list[Event]) -> Iterator[None]:
    """Room events committed inside the block wait in ``events`` instead of going out;
    the caller publishes them with ``flush`` (``threads.room_db`` does)."""
    token = _outbox.set(events)
    try:
        yield
    finally:
        _outbox.reset(token)


async def flush(events: list[Event]) -> bool:
    layer = get_channel_layer()
    delivered = True
    for group, event in events:
        try:
            if layer is not None:
                await layer.group_send(group, event)
        except Exception as exc:
            # At-most-once anyway: clients recover chat from history, state on heartbeat.
            logger.warning("room broadcast failed error=%s", type(exc).__name__)
            delivered = False
    return delivered


# Who receives a frame: every socket; the session's staff and admitted patients; staff
# only; admitted patients only.
ALL = "all"
ADMITTED = "admitted"
STAFF = "staff"
PATIENTS = "patients"


def _group_send(group: str, event: dict[str, Any]) -> None:
    events = _outbox.get()
    if events is not None:
        events.append((group, event))
        return
    # A synchronous caller (a management command, an HTTP request): publish now.
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, event)


def notify_frame(*, session_id: int, frame: dict[str, Any], audience: str = ADMITTED) -> None:
    notify_frames(session_id=session_id, frames={audience: frame})


def notify_frames(*, session_id: int, frames: dict[str, dict[str, Any]]) -> None:
    """One layer message for one event, with a frame per audience (each socket matches at
    most one): fewer messages than one per audience, each text serialised once."""
    if not frames:
        return
    event = {
        "type": "room.frame",
        "session_id": session_id,
        "texts": {audience: encode(frame) for audience, frame in frames.items()},
    }
    transaction.on_commit(lambda: _group_send(room_group(session_id), event))


def notify_control(
    *, session_id: int, action: str, user_id: int | None = None, code: int | None = None
) -> None:
    """Tell sockets to re-read their state (``refresh``) or to close (``close``): every
    socket of the room, or only ``user_id``'s (the process's ``fanout`` picks them out)."""
    event = {
        "type": "room.control",
        "session_id": session_id,
        "user_id": user_id,
        "action": action,
        "code": code,
    }
    transaction.on_commit(lambda: _group_send(room_group(session_id), event))


def _visible(record: dict[str, Any] | None, audience: str) -> bool:
    if record is None:
        return False
    return audience == STAFF or record["state"] == "admitted"


def notify_presence(
    *, session_id: int, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> None:
    """Announce a participant's change as each audience sees it: staff see the waiting
    room, admitted patients see only admitted people."""
    frames: dict[str, dict[str, Any]] = {}
    for audience in (STAFF, PATIENTS):
        seen_before, seen_after = _visible(before, audience), _visible(after, audience)
        if after is not None and seen_after and not seen_before:
            frames[audience] = {"type": "presence.joined", "participant": after}
        elif before is not None and seen_before and not seen_after:
            frames[audience] = {"type": "presence.left", "user_id": before["user_id"]}
        elif seen_before and seen_after and before != after:
            frames[audience] = {"type": "presence.updated", "participant": after}
    if STAFF in frames and frames.get(PATIENTS) == frames[STAFF]:
        frames = {ADMITTED: frames[STAFF]}
    notify_frames(session_id=session_id, frames=frames)
