"""Who is in a room right now, shared by every daphne process.

Each open socket is a member ``"<user_id>|<conn>"`` of a per-room sorted set whose
score is the time it expires; its process's heartbeat (``heartbeat``) pushes it forward. A
process that dies stops heartbeating, so its sockets expire and the next sweep (any
process) removes them: no ghosts. A participant whose last socket closes leaves a
``"<user_id>|grace|<t>"`` member that keeps them present for the reconnect grace window.

With ``REDIS_URL`` the set lives in Redis; without it (the embedded single-process
default and unit tests) in this process's memory. Calls are synchronous: they run in the
same worker thread as the database work that depends on them.

The store also keeps the chat rate windows (``rate_allows``), which every process must
share for the same reason.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Imported with the module, not on the first entry: the import took half a second of the
# event loop's GIL in the middle of a room worker's first connects (bench/NOTES.md).
import redis
from django.conf import settings

GRACE = "grace"


@dataclass(frozen=True)
class Member:
    user_id: int
    conn: str
    expires_at: float

    @property
    def is_grace(self) -> bool:
        return self.conn.startswith(GRACE + "|")

    @property
    def left_at(self) -> float:
        """When the person was last seen: the disconnect for a grace member, the last
        heartbeat for a socket that expired."""
        if self.is_grace:
            return float(self.conn.split("|", 1)[1])
        return self.expires_at - socket_lifetime()


def member_name(user_id: int, conn: str) -> str:
    return f"{user_id}|{conn}"


def grace_conn(left_at: float) -> str:
    return f"{GRACE}|{left_at:.6f}"


@dataclass(frozen=True)
class Arrival:
    """A socket made present (``arrive``): its member, and the person's grace members it
    took out (their earlier socket's close is not a leave now), put back by ``undo`` if
    the entry is refused."""

    session_id: int
    name: str
    graces: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Departure:
    """A socket that closed: its member goes. ``grace_until``: if that leaves its person
    with nothing live, a grace member keeps them present until then."""

    session_id: int
    user_id: int
    conn: str
    grace_until: float | None = None


@dataclass(frozen=True)
class Swept:
    """A room's sweep (``sweep_many``): the members that expired, now taken out (each by
    one sweeper only), and those still live."""

    expired: list[Member]
    live: list[Member]


def _parse(name: str | bytes, score: float) -> Member:
    text = name.decode() if isinstance(name, bytes) else name
    user_id, conn = text.split("|", 1)
    return Member(int(user_id), conn, float(score))


def now() -> float:
    return time.time()


class LocalPresence:
    """One process's memory: only correct when there is one process."""

    def __init__(self) -> None:
        self._rooms: dict[int, dict[str, float]] = {}
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def touch(self, session_id: int, name: str, expires_at: float) -> None:
        with self._lock:
            self._rooms.setdefault(session_id, {})[name] = expires_at

    def touch_many(self, members: list[tuple[int, str, float]]) -> None:
        with self._lock:
            for session_id, name, expires_at in members:
                self._rooms.setdefault(session_id, {})[name] = expires_at

    def remove(self, session_id: int, name: str) -> bool:
        with self._lock:
            return self._rooms.get(session_id, {}).pop(name, None) is not None

    def depart_many(self, departures: list[Departure], at: float) -> list[bool]:
        stays = []
        with self._lock:
            for gone in departures:
                room = self._rooms.setdefault(gone.session_id, {})
                room.pop(member_name(gone.user_id, gone.conn), None)
                person = member_name(gone.user_id, "")
                live = any(s > at and n.startswith(person) for n, s in room.items())
                if not live and gone.grace_until is not None:
                    room[member_name(gone.user_id, grace_conn(at))] = gone.grace_until
                stays.append(live)
        return stays

    def live(self, session_id: int, at: float) -> list[Member]:
        with self._lock:
            room = dict(self._rooms.get(session_id, {}))
        return [_parse(n, s) for n, s in room.items() if s > at]

    def arrive(
        self,
        session_id: int,
        user_id: int,
        conn: str,
        *,
        at: float,
        expires_at: float,
        unless_expired: bool = False,
    ) -> Arrival | None:
        name, graces = member_name(user_id, conn), member_name(user_id, GRACE + "|")
        with self._lock:
            room = self._rooms.setdefault(session_id, {})
            if unless_expired and any(s <= at for s in room.values()):
                return None
            taken = tuple((n, s) for n, s in room.items() if n.startswith(graces))
            for n, _ in taken:
                del room[n]
            room[name] = expires_at
        return Arrival(session_id, name, taken)

    def arrive_many(
        self,
        session_id: int,
        sockets: list[tuple[int, str]],
        *,
        at: float,
        expires_at: float,
        unless_expired: bool = False,
    ) -> list[Arrival | None]:
        return [
            self.arrive(
                session_id,
                user_id,
                conn,
                at=at,
                expires_at=expires_at,
                unless_expired=unless_expired,
            )
            for user_id, conn in sockets
        ]

    def undo(self, arrival: Arrival) -> None:
        with self._lock:
            room = self._rooms.setdefault(arrival.session_id, {})
            room.pop(arrival.name, None)
            room.update(arrival.graces)

    def sweep_many(self, session_ids: Sequence[int], at: float) -> list[Swept]:
        swept = []
        with self._lock:
            for session_id in session_ids:
                room = self._rooms.get(session_id, {})
                expired = [(n, s) for n, s in room.items() if s <= at]
                for name, _ in expired:
                    del room[name]
                swept.append(
                    Swept(
                        expired=[_parse(n, s) for n, s in expired],
                        live=[_parse(n, s) for n, s in room.items()],
                    )
                )
        return swept

    def clear(self, session_id: int) -> None:
        with self._lock:
            self._rooms.pop(session_id, None)

    def rate_allows(self, key: str, *, limit: int, window: float) -> bool:
        at = now()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= at - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(at)
            return True


# KEYS[1]: the window's sorted set; ARGV: now, window seconds, limit, a unique suffix.
_RATE_SCRIPT = """
local at, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', at - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
    return 0
end
redis.call('ZADD', KEYS[1], at, ARGV[1] .. ':' .. ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
return 1
"""


# KEYS[1]: the room's presence; ARGV: now, the member, its expiry, the person's grace
# prefix, whether expired members stop it, how long the key is kept. Returns 0 (stopped:
# sweep first) or {1, grace, score, grace, score...}: the grace members it took out.
_ARRIVE_SCRIPT = """
if ARGV[5] == '1' and redis.call('ZCOUNT', KEYS[1], '-inf', ARGV[1]) > 0 then
    return 0
end
local taken = {1}
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
    if string.sub(members[i], 1, #ARGV[4]) == ARGV[4] then
        redis.call('ZREM', KEYS[1], members[i])
        taken[#taken + 1] = members[i]
        taken[#taken + 1] = members[i + 1]
    end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return taken
"""


# KEYS[1]: the room's presence; ARGV: the socket's member, its person's prefix, now, a grace
# member ('' for none) and its expiry, how long the key is kept. Returns 1 when the person
# still has a live member, else 0 (and the grace member is added).
_DEPART_SCRIPT = """
redis.call('ZREM', KEYS[1], ARGV[1])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf')
for _, member in ipairs(live) do
    if string.sub(member, 1, #ARGV[2]) == ARGV[2] then
        return 1
    end
end
if ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[1], ARGV[5], ARGV[4])
    redis.call('EXPIRE', KEYS[1], ARGV[6])
end
return 0
"""


# KEYS[1]: the room's presence; ARGV[1]: now. Takes out the members that expired by then and
# returns them, and the live ones: {{member, score, ...}, {member, score, ...}}.
_SWEEP_SCRIPT = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES')
if #expired > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
end
return {expired, redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf', 'WITHSCORES')}
"""


def _members(flat: list[Any]) -> list[Member]:
    """Members from a script's flat ``{member, score, ...}`` reply."""
    return [_parse(name, float(score)) for name, score in zip(flat[::2], flat[1::2], strict=True)]


class RedisPresence:
    # Long enough that sweeps see every expired member; an abandoned room still goes.
    KEEP_SECONDS = 24 * 3600

    def __init__(self, url: str) -> None:
        self._redis: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._rate_script = self._redis.register_script(_RATE_SCRIPT)
        self._arrive_script = self._redis.register_script(_ARRIVE_SCRIPT)
        self._depart_script = self._redis.register_script(_DEPART_SCRIPT)
        self._sweep_script = self._redis.register_script(_SWEEP_SCRIPT)

    @staticmethod
    def _key(session_id: int) -> str:
        return f"vioip:room:{session_id}:presence"

    def touch(self, session_id: int, name: str, expires_at: float) -> None:
        self.touch_many([(session_id, name, expires_at)])

    def touch_many(self, members: list[tuple[int, str, float]]) -> None:
        """Many sockets, in many rooms, in one round trip."""
        by_room: dict[int, dict[str, float]] = {}
        for session_id, name, expires_at in members:
            by_room.setdefault(session_id, {})[name] = expires_at
        pipe = self._redis.pipeline(transaction=False)
        for session_id, mapping in by_room.items():
            pipe.zadd(self._key(session_id), mapping)
            pipe.expire(self._key(session_id), self.KEEP_SECONDS)
        pipe.execute()

    def remove(self, session_id: int, name: str) -> bool:
        return bool(self._redis.zrem(self._key(session_id), name))

    def depart_many(self, departures: list[Departure], at: float) -> list[bool]:
        """Closed sockets out of presence, in one round trip: per socket, whether its
        person still has a live member (another socket, a grace window); if not and it
        has ``grace_until``, a grace member now keeps them present until then. Each
        socket's removal, check and grace are one step, so two sockets of one person
        closing at once in two processes cannot both find the other still there."""
        pipe = self._redis.pipeline(transaction=False)
        for gone in departures:
            grace = gone.grace_until is not None
            self._depart_script(
                keys=[self._key(gone.session_id)],
                args=[
                    member_name(gone.user_id, gone.conn),
                    member_name(gone.user_id, ""),
                    repr(at),
                    member_name(gone.user_id, grace_conn(at)) if grace else "",
                    repr(gone.grace_until) if grace else "0",
                    self.KEEP_SECONDS,
                ],
                client=pipe,
            )
        return [bool(live) for live in pipe.execute()]

    def live(self, session_id: int, at: float) -> list[Member]:
        rows = self._redis.zrangebyscore(self._key(session_id), f"({at}", "+inf", withscores=True)
        return [_parse(n, s) for n, s in rows]

    def arrive(
        self,
        session_id: int,
        user_id: int,
        conn: str,
        *,
        at: float,
        expires_at: float,
        unless_expired: bool = False,
    ) -> Arrival | None:
        """Make a socket present and take out its person's grace members, in one round
        trip; with ``unless_expired``, nothing (None) while the room has expired members."""
        (arrival,) = self.arrive_many(
            session_id,
            [(user_id, conn)],
            at=at,
            expires_at=expires_at,
            unless_expired=unless_expired,
        )
        return arrival

    def arrive_many(
        self,
        session_id: int,
        sockets: list[tuple[int, str]],
        *,
        at: float,
        expires_at: float,
        unless_expired: bool = False,
    ) -> list[Arrival | None]:
        """``arrive`` for several sockets (user id, conn) of a room, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for user_id, conn in sockets:
            self._arrive_script(
                keys=[self._key(session_id)],
                args=[
                    repr(at),
                    member_name(user_id, conn),
                    repr(expires_at),
                    member_name(user_id, GRACE + "|"),
                    "1" if unless_expired else "0",
                    self.KEEP_SECONDS,
                ],
                client=pipe,
            )
        arrivals: list[Arrival | None] = []
        for (user_id, conn), reply in zip(sockets, pipe.execute(), strict=True):
            if not reply:
                arrivals.append(None)
                continue
            taken = reply[1:]
            graces = tuple(
                (n.decode() if isinstance(n, bytes) else n, float(score))
                for n, score in zip(taken[::2], taken[1::2], strict=True)
            )
            arrivals.append(Arrival(session_id, member_name(user_id, conn), graces))
        return arrivals

    def undo(self, arrival: Arrival) -> None:
        """Take an arrival back: its member out, the grace members it took out back in."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(self._key(arrival.session_id), arrival.name)
        if arrival.graces:
            pipe.zadd(self._key(arrival.session_id), dict(arrival.graces))
        pipe.execute()

    def sweep_many(self, session_ids: Sequence[int], at: float) -> list[Swept]:
        """Several rooms' sweeps in one round trip. Each room's is one script: several
        processes sweep, and a member that expired goes to exactly one of them."""
        pipe = self._redis.pipeline(transaction=False)
        for session_id in session_ids:
            self._sweep_script(keys=[self._key(session_id)], args=[repr(at)], client=pipe)
        return [
            Swept(expired=_members(expired), live=_members(live))
            for expired, live in pipe.execute()
        ]

    def clear(self, session_id: int) -> None:
        self._redis.delete(self._key(session_id))

    def rate_allows(self, key: str, *, limit: int, window: float) -> bool:
        """A sliding window shared by every process, in one round trip: only allowed
        attempts count, so a client that waits gets through."""
        allowed = self._rate_script(
            keys=[f"vioip:rate:{key}"], args=[now(), window, limit, secrets.token_hex(6)]
        )
        return bool(allowed)


@lru_cache(maxsize=2)
def _store(url: str) -> LocalPresence | RedisPresence:
    return RedisPresence(url) if url else LocalPresence()


def store() -> LocalPresence | RedisPresence:
    return _store(settings.REDIS_URL)


def beat_interval() -> float:
    """How often a process renews each of its sockets (``heartbeat``) and sweeps each of
    its rooms for members that expired: a sixth of ``ROOM_PRESENCE_TTL_SECONDS``."""
    return max(1.0, settings.ROOM_PRESENCE_TTL_SECONDS / 6)


def socket_lifetime() -> float:
    """How long one renewal keeps a socket present: the TTL less one beat interval.

    ``ROOM_PRESENCE_TTL_SECONDS`` is the promise that a participant whose process died
    (killed, crashed, cut off) leaves within that long: their socket expires at most this
    long after its last renewal, and any process with a socket in the room finds it
    expired at its next sweep, at most one interval later. A live socket is renewed every
    interval, so it stays present through four missed renewals (60 s TTL: renewed every
    10 s, kept 50 s)."""
    return settings.ROOM_PRESENCE_TTL_SECONDS - beat_interval()


def socket_expiry(at: float | None = None) -> float:
    return (at if at is not None else now()) + socket_lifetime()


def live_user_ids(session_id: int, at: float | None = None) -> set[int]:
    return {m.user_id for m in store().live(session_id, at if at is not None else now())}
