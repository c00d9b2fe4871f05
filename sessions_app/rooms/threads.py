"""The threads a consumer's room calls run on: the room database threads (``room_db``)
and the presence thread (``presence_call``); and the batches calls wait in for them
(``together``): the door a room's entries wait at (``knock``), their first room.state
(``look``), the closed sockets' presence (``release``)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections

from sessions_app.rooms import notify
from vioip.core.loops import PerLoop

T = TypeVar("T")

_pools: dict[str, ThreadPoolExecutor] = {}


def _executor(name: str, threads: int) -> ThreadPoolExecutor | None:
    """A pool of room threads: None for Django's one shared thread.

    Most of a room call is waiting on PostgreSQL round trips; with several threads (each
    with its own connection) one socket's call no longer waits behind every other
    socket's. Row locks order the writes to a room, as they do between processes.
    """
    if settings.ROOM_DB_THREADS <= 1:
        return None  # one thread for everything (SQLite's single writer)
    pool = _pools.get(name)
    if pool is None or pool._max_workers != threads:
        pool = _pools[name] = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"room-{name}"
        )
    return pool


_presence_pool: ThreadPoolExecutor | None = None


def presence_call(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``fn`` (presence only: Redis or memory, never the database) on a thread of its
    own, so it does not queue behind the room database calls."""
    global _presence_pool
    if _presence_pool is None:
        _presence_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="room-presence")
    return SyncToAsync(fn, thread_sensitive=False, executor=_presence_pool)


# Bumped whenever a room call fails on its connection; each room thread remembers the
# value it last saw.
_broken_generation = 0
_broken_lock = threading.Lock()
_thread_state = threading.local()


class RoomDatabaseSyncToAsync(DatabaseSyncToAsync):
    """``database_sync_to_async`` without a health check (``SELECT 1``) before every call.

    Django checks a kept connection once per request, and Channels makes every call a
    request: the check was one round trip in every room call, a quarter of a chat
    message's database time. A room call still closes a connection that failed when it
    ends, so after a database restart one call fails (answered with an error frame) and the
    next reconnects.

    When a call finds its connection broken, the other room threads' connections are
    from the same database and most likely broken too (a restart drops them all): each
    thread closes its connection before its next call and opens a fresh one, instead of
    failing one call of its own first. Without that, a chat message resent after a
    database restart failed again on the second thread.

    The room threads are few and long-lived, so they keep their connections whatever
    ``CONN_MAX_AGE`` says (it is for HTTP requests, each on a thread of its own under
    ASGI): reconnecting on every room call cost ~24 ms a frame under load."""

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        global _broken_generation
        if getattr(_thread_state, "generation", _broken_generation) != _broken_generation:
            for conn in connections.all(initialized_only=True):
                conn.close()
        _thread_state.generation = _broken_generation
        try:
            return SyncToAsync.thread_handler(self, loop, *args, **kwargs)
        except (OperationalError, InterfaceError):
            # This thread's connection is closed below (it failed); the others' before
            # their next call.
            with _broken_lock:
                _broken_generation += 1
                _thread_state.generation = _broken_generation
            raise
        finally:
            for conn in connections.all(initialized_only=True):
                conn.close_at = None  # never obsolete on a room thread
                conn.close_if_unusable_or_obsolete()
                if conn.connection is not None:
                    conn.health_check_done = True  # type: ignore[attr-defined]


def room_db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``database_sync_to_async(fn)`` for consumers: the room events ``fn`` commits are
    published afterwards from the event loop (``notify``'s outbox). Raises
    ``notify.BroadcastFailed`` (carrying the result) when they could not be."""
    return _on(fn, "db", settings.ROOM_DB_THREADS)


def entry_db(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """``room_db`` on the entry threads, for what a socket's entry reads and writes (the
    ticket, the entry, its first ``room.state``) and for the heartbeat's beats. In a
    reconnect storm the entries queue there, not in front of the rooms' chat and
    moderation; and since an entry is a dozen round trips, mostly waits, its own threads
    let several run at once. A beat (every second, a slice of the process's sockets)
    held a room thread for 50 to 130 ms under load, and chat queued behind it."""
    return _on(fn, "entry", settings.ROOM_ENTRY_THREADS)


def _on(fn: Callable[..., T], pool: str, threads: int) -> Callable[..., Awaitable[T]]:
    async def run(*args: Any, **kwargs: Any) -> T:
        executor = _executor(pool, threads)
        if executor is None:
            call = RoomDatabaseSyncToAsync(fn)
        else:
            call = RoomDatabaseSyncToAsync(fn, thread_sensitive=False, executor=executor)
        events: list[notify.Event] = []
        try:
            with notify.held(events):
                result = await call(*args, **kwargs)
        finally:
            delivered = await notify.flush(events)
        if not delivered:
            raise notify.BroadcastFailed(result)
        return result

    return run


# The most entries of one room that go to a room thread together: they hold the room's
# lock for one statement set, and one statement carries their writes.
DOOR_BATCH = 50
# The most closed sockets whose presence goes in one round trip (``release``).
RELEASE_BATCH = 500


@dataclass
class _Queue:
    """Items waiting for one batch call (``together``)."""

    run: Callable[[list[Any]], Awaitable[list[Any]]]
    limit: int
    # Whether an item whose waiter went away still goes (it must, for a release).
    keep_abandoned: bool
    items: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)


class _Batches:
    """The items waiting for each batch call in one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[Hashable, _Queue] = {}
        # The tasks making each key's calls (a reference keeps each alive).
        self.runners: set[asyncio.Task[None]] = set()

    async def add(
        self,
        key: Hashable,
        item: Any,
        run: Callable[[list[Any]], Awaitable[list[Any]]],
        *,
        limit: int,
        keep_abandoned: bool,
    ) -> Any:
        future: asyncio.Future[Any] = self.loop.create_future()
        queue = self.waiting.get(key)
        if queue is None:
            queue = self.waiting[key] = _Queue(run, limit, keep_abandoned)
            # A context of its own: not the audit context of the item that came first.
            task = self.loop.create_task(self._run(key, queue), context=contextvars.Context())
            self.runners.add(task)
            task.add_done_callback(self.runners.discard)
        queue.items.append((item, future))
        return await future

    async def _run(self, key: Hashable, queue: _Queue) -> None:
        batch: list[tuple[Any, asyncio.Future[Any]]] = []
        try:
            while queue.items:
                # An item whose waiter went away is dropped (a socket that left while it
                # waited at its room's door is not let in: its ticket stays unspent, and it
                # expires), unless it must go all the same.
                batch = [
                    (item, future)
                    for item, future in queue.items[: queue.limit]
                    if queue.keep_abandoned or not future.done()
                ]
                del queue.items[: queue.limit]
                if not batch:
                    continue
                try:
                    results = await queue.run([item for item, _ in batch])
                except Exception as exc:
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue  # its waiter went away meanwhile
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            if self.waiting.get(key) is queue:
                del self.waiting[key]
            for _, future in [*batch, *queue.items]:
                if not future.done():
                    future.cancel()  # this loop is stopping


_batches: PerLoop[_Batches] = PerLoop(_Batches)


async def together(
    key: Hashable,
    item: Any,
    run: Callable[[list[Any]], Awaitable[list[Any]]],
    *,
    limit: int,
    keep_abandoned: bool = False,
) -> Any:
    """Wait for ``run`` to take ``item`` with the others queued under ``key`` in this
    event loop, and return its result for ``item`` (or raise it, when it is an exception).
    ``run(items)`` runs for up to ``limit`` items at a time, when the key's previous call is
    done, and gives each item's result in order. A call on a room thread costs the event
    loop and the thread a hand-over each way, and the thread waits for the GIL after
    every round trip while the loop is busy: items that come together go in one call."""
    return await _batches.get().add(key, item, run, limit=limit, keep_abandoned=keep_abandoned)


async def knock(
    session_id: int, knock: Any, enter: Callable[[int, list[Any]], Awaitable[list[Any]]]
) -> Any:
    """Wait at the room's door with ``knock`` and return what became of it (or raise it,
    when that is an exception). The sockets waiting at a room's door in this process go
    in together: ``enter(session_id, knocks)`` runs for those waiting when the room's
    previous entries are done, and gives each knock's result in order. An entry holds its
    room's row lock for its statements; two room threads entering the same room took
    turns on that lock, one of them idle, while entries to other rooms waited behind
    both. Queued here, a room's entries wait without a thread, and the threads serve
    different rooms."""
    return await together(
        ("door", session_id), knock, functools.partial(enter, session_id), limit=DOOR_BATCH
    )


async def look(
    session_id: int, user: Any, read: Callable[[int, list[Any]], Awaitable[list[Any]]]
) -> Any:
    """The first ``room.state`` of a socket just let in (or raise what its read raised):
    the sockets of a room that ask at once in this process are read together, by
    ``read(session_id, users)``. A socket asks once it hears the room's events
    (``fanout.join``), so whatever happens after the read reaches it."""
    return await together(
        ("look", session_id), user, functools.partial(read, session_id), limit=DOOR_BATCH
    )


async def release(release: Any, run: Callable[[list[Any]], Awaitable[list[Any]]]) -> Any:
    """What a closed socket's ``release`` came to: the sockets closing at once in this
    process have their presence released together, by ``run(releases)`` on the presence
    thread. A release goes even if its close handler was cancelled meanwhile."""
    return await together("release", release, run, limit=RELEASE_BATCH, keep_abandoned=True)
