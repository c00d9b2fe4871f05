"""Room side effects: frames sent to a room's sockets after the transaction commits.

Each frame is serialised once per event, not once per recipient; the consumer forwards the
text to the sockets of the audience it is meant for. The channel layer is at-most-once, so
nothing here is needed for correctness: clients recover chat from history and state from
``room.state``; consumers reconcile their state with the database on every heartbeat.
"""

from __future__ import annotations

import json
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

# Who receives a frame: every socket; the session's staff and admitted patients; staff
# only; admitted patients only.
ALL = "all"
ADMITTED = "admitted"
STAFF = "staff"
PATIENTS = "patients"


def room_group(session_id: int) -> str:
    return f"room.{session_id}"


def user_group(session_id: int, user_id: int) -> str:
    return f"room.{session_id}.u.{user_id}"


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"))


def _group_send(group: str, event: dict[str, Any]) -> None:
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
        "texts": {audience: encode(frame) for audience, frame in frames.items()},
    }
    transaction.on_commit(lambda: _group_send(room_group(session_id), event))


def notify_control(
    *, session_id: int, action: str, user_id: int | None = None, code: int | None = None
) -> None:
    """Tell sockets to re-read their state (``refresh``) or to close (``close``)."""
    group = room_group(session_id) if user_id is None else user_group(session_id, user_id)
    event = {"type": "room.control", "action": action, "code": code}
    transaction.on_commit(lambda: _group_send(group, event))


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
