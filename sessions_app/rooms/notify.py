"""Room side effects: frames sent to a room's sockets after the transaction commits.

Each frame is serialised once per event, not once per recipient; the consumer forwards the
text to the sockets of the audience it is meant for. The channel layer is at-most-once, so
nothing here is needed for correctness: clients recover chat from history and state from
``room.state``; consumers reconcile their state with the database on every heartbeat.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, async_to_sync
from channels.db import DatabaseSyncToAsync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, transaction

logger = logging.getLogger("vioip.rooms")

T = TypeVar("T")

# Room events committed during a database call made by a consumer wait here, so the
# consumer publishes them on its event loop once the call returns (the transaction has
# committed, so store-before-broadcast holds). Publishing from the database thread would
# block the one thread every socket of the process shares on a Redis round trip.
_outbox: ContextVar[list[tuple[str, dict[str, Any]]] | None] = ContextVar(
    "room_outbox", default=None
)


class BroadcastFailed(Exception):
    """The call committed, but its room events could not be published."""

    def __init__(self, result: Any) -> None:
        super().__init__("room broadcast failed")
        self.result = result


async def flush(events: list[tuple[str, dict[str, Any]]]) -> bool:
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


_pool: ThreadPoolExecutor | None = None


def _room_executor() -> ThreadPoolExecutor | None:
    """The threads room calls run on: None for Django's one shared thread.

    Most of a room call is waiting on PostgreSQL round trips; with several threads (each
    with its own connection) one socket's call no longer waits behind every other
    socket's. Row locks order the writes to a room, as they do between processes.
    """
    global _pool
    threads = settings.ROOM_DB_THREADS
    if threads <= 1:
        return None
    if _pool is None or _pool._max_workers != threads:
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="room-db")
    return _pool


_presence_pool: ThreadPoolExecutor | None = None


def presence_call(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``fn`` (presence only: Redis or memory, never the database) on a thread of its
    own, so it does not queue behind the room database calls."""
    global _presence_pool
    if _presence_pool is None:
        _presence_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="room-presence")
    return SyncToAsync(fn, thread_sensitive=False, executor=_presence_pool)


class RoomDatabaseSyncToAsync(DatabaseSyncToAsync):
    """``database_sync_to_async`` without a health check (``SELECT 1``) before every call.

    Django checks a kept connection once per request, and Channels makes every call a
    request: the check was one round trip in every room call, a quarter of a chat
    message's database time. A room call still closes a connection that failed when it
    ends, so after a database restart one call fails (answered with an error frame) and the
    next reconnects.

    The room threads are few and long-lived, so they keep their connections whatever
    ``CONN_MAX_AGE`` says (it is for HTTP requests, each on a thread of its own under
    ASGI): reconnecting on every room call cost ~24 ms a frame under load."""

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return SyncToAsync.thread_handler(self, loop, *args, **kwargs)
        finally:
            for conn in connections.all(initialized_only=True):
                conn.close_at = None  # never obsolete on a room thread
                conn.close_if_unusable_or_obsolete()
                if conn.connection is not None:
                    conn.health_check_done = True  # type: ignore[attr-defined]


def room_db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``database_sync_to_async(fn)`` for consumers: the room events ``fn`` commits are
    published afterwards from the event loop. Raises ``BroadcastFailed`` (carrying the
    result) when they could not be."""

    async def run(*args: Any, **kwargs: Any) -> T:
        executor = _room_executor()
        if executor is None:
            call = RoomDatabaseSyncToAsync(fn)
        else:
            call = RoomDatabaseSyncToAsync(fn, thread_sensitive=False, executor=executor)
        events: list[tuple[str, dict[str, Any]]] = []
        token = _outbox.set(events)
        try:
            result = await call(*args, **kwargs)
        finally:
            _outbox.reset(token)
            delivered = await flush(events)
        if not delivered:
            raise BroadcastFailed(result)
        return result

    return run


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
    # Text frames are UTF-8 on the wire: escaping non-ASCII would triple an emoji-heavy
    # message (and a room.state carrying fifty of them) for nothing.
    return json.dumps(frame, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)


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
    """Tell sockets to re-read their state (``refresh``) or to close (``close``)."""
    group = room_group(session_id) if user_id is None else user_group(session_id, user_id)
    event = {"type": "room.control", "session_id": session_id, "action": action, "code": code}
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
