"""The presence store behaves the same in memory and on Redis: live members, expiry, and
each expired member handed to exactly one sweeper."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sessions_app.rooms import presence


def _redis_or_skip() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("needs REDIS_URL")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is configured but unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return url


@pytest.fixture(params=["memory", "redis"])
def store(request: Any, settings: Any) -> Iterator[Any]:
    if request.param == "redis":
        chosen: Any = presence.RedisPresence(_redis_or_skip())
    else:
        chosen = presence.LocalPresence()
    # A room id no other test uses, so a shared Redis holds nothing of it.
    session_id = uuid.uuid4().int % 10**9 + 10**9
    chosen.clear(session_id)
    yield chosen, session_id
    chosen.clear(session_id)


def test_live_members_are_those_not_yet_expired(store: Any):
    backend, room = store
    backend.touch(room, presence.member_name(1, "a"), 130.0)
    backend.touch(room, presence.member_name(1, "b"), 200.0)
    backend.touch(room, presence.member_name(2, presence.grace_conn(140.0)), 150.0)
    assert {(m.user_id, m.conn) for m in backend.live(room, 120.0)} == {
        (1, "a"),
        (1, "b"),
        (2, "grace|140.000000"),
    }
    assert {m.user_id for m in backend.live(room, 160.0)} == {1}
    assert backend.remove(room, presence.member_name(1, "b")) is True
    assert backend.remove(room, presence.member_name(1, "b")) is False


def test_expired_members_go_to_one_sweeper_only(store: Any, settings: Any):
    settings.ROOM_PRESENCE_TTL_SECONDS = 60
    backend, room = store
    backend.touch(room, presence.member_name(1, "a"), 100.0)
    backend.touch(room, presence.member_name(2, presence.grace_conn(90.5)), 110.0)
    backend.touch(room, presence.member_name(3, "c"), 500.0)
    other_room = room + 1
    backend.clear(other_room)
    backend.touch(other_room, presence.member_name(4, "d"), 104.0)
    backend.touch(other_room, presence.member_name(5, "e"), 130.0)
    first_sweep, other_sweep = backend.sweep_many([room, other_room], 105.0)
    (first,) = first_sweep.expired
    # Its last heartbeat: a renewal keeps a socket for the TTL less one beat interval.
    assert (first.user_id, first.left_at) == (1, 100.0 - (60 - 10))
    assert sorted(m.user_id for m in first_sweep.live) == [2, 3]
    assert [(m.user_id, m.expires_at) for m in other_sweep.expired] == [(4, 104.0)]
    assert [(m.user_id, m.conn, m.expires_at) for m in other_sweep.live] == [(5, "e", 130.0)]
    # Another sweeper at the same moment finds nothing left to take out.
    again, _ = backend.sweep_many([room, other_room], 105.0)
    assert again.expired == []
    (later,) = backend.sweep_many([room], 120.0)
    (grace,) = later.expired
    assert (grace.user_id, grace.left_at) == (2, 90.5)  # when the socket closed
    assert [m.user_id for m in later.live] == [3]
    assert backend.sweep_many([], 120.0) == []


def test_an_arrival_takes_out_only_its_persons_graces_and_can_be_undone(store: Any):
    backend, room = store
    backend.touch(room, presence.member_name(1, presence.grace_conn(90.0)), 150.0)
    backend.touch(room, presence.member_name(11, presence.grace_conn(95.0)), 150.0)
    backend.touch(room, presence.member_name(1, "other-tab"), 150.0)
    arrival = backend.arrive(room, 1, "new", at=100.0, expires_at=160.0)
    assert arrival.graces == ((presence.member_name(1, "grace|90.000000"), 150.0),)
    assert {(m.user_id, m.conn) for m in backend.live(room, 100.0)} == {
        (1, "other-tab"),
        (1, "new"),
        (11, "grace|95.000000"),  # another person whose id starts the same
    }
    backend.undo(arrival)
    assert {(m.user_id, m.conn, m.expires_at) for m in backend.live(room, 100.0)} == {
        (1, "other-tab", 150.0),
        (1, "grace|90.000000", 150.0),
        (11, "grace|95.000000", 150.0),
    }


def test_an_arrival_waits_for_a_sweep_while_the_room_has_expired_members(store: Any):
    backend, room = store
    backend.touch(room, presence.member_name(2, "gone"), 90.0)
    assert backend.arrive(room, 1, "new", at=100.0, expires_at=160.0, unless_expired=True) is None
    assert backend.live(room, 100.0) == []
    backend.sweep_many([room], 100.0)
    arrival = backend.arrive(room, 1, "new", at=100.0, expires_at=160.0, unless_expired=True)
    assert arrival is not None and arrival.graces == ()
    assert [(m.user_id, m.conn) for m in backend.live(room, 100.0)] == [(1, "new")]


def test_departures_leave_a_grace_only_for_whom_they_leave_with_nothing_live(store: Any):
    backend, room = store
    other_room = room + 1
    backend.clear(other_room)
    for user_id, conn, room_id in [
        (1, "a", room),
        (1, "b", room),  # a second tab of the same person
        (2, "c", room),
        (3, "d", room),
        (11, "e", room),  # another person whose id starts the same
        (4, "f", other_room),
    ]:
        backend.touch(room_id, presence.member_name(user_id, conn), 200.0)
    stays = backend.depart_many(
        [
            presence.Departure(room, 1, "a", grace_until=130.0),
            presence.Departure(room, 2, "c", grace_until=130.0),
            presence.Departure(room, 3, "d"),  # no grace: nothing keeps them
            presence.Departure(room, 1, "b", grace_until=130.0),  # their last tab, after "a"
            presence.Departure(other_room, 4, "f", grace_until=140.0),
        ],
        100.0,
    )
    assert stays == [True, False, False, False, False]
    assert {(m.user_id, m.conn, m.expires_at) for m in backend.live(room, 100.0)} == {
        (1, "grace|100.000000", 130.0),
        (2, "grace|100.000000", 130.0),
        (11, "e", 200.0),
    }
    assert [(m.user_id, m.expires_at) for m in backend.live(other_room, 100.0)] == [(4, 140.0)]
    # Back within the grace window, and gone again: a fresh grace from the new close.
    backend.arrive(room, 2, "again", at=110.0, expires_at=200.0)
    assert backend.depart_many([presence.Departure(room, 2, "again", 150.0)], 120.0) == [False]
    assert [m.conn for m in backend.live(room, 120.0) if m.user_id == 2] == ["grace|120.000000"]
    backend.clear(other_room)


def test_arrivals_together_each_take_out_only_their_persons_graces(store: Any):
    backend, room = store
    backend.touch(room, presence.member_name(1, presence.grace_conn(90.0)), 150.0)
    backend.touch(room, presence.member_name(2, "other-tab"), 150.0)
    first, second = backend.arrive_many(
        room, [(1, "a"), (2, "b")], at=100.0, expires_at=160.0, unless_expired=True
    )
    assert first.graces == ((presence.member_name(1, "grace|90.000000"), 150.0),)
    assert second.graces == ()
    assert {(m.user_id, m.conn) for m in backend.live(room, 100.0)} == {
        (1, "a"),
        (2, "b"),
        (2, "other-tab"),
    }
    # While the room has an expired member, none arrives until it is swept.
    backend.touch(room, presence.member_name(3, "gone"), 99.0)
    assert backend.arrive_many(
        room, [(4, "c"), (5, "d")], at=100.0, expires_at=160.0, unless_expired=True
    ) == [None, None]
