"""Attendance measured by the live room itself: sockets opened through the consumer,
moderation frames sent by staff, then the reports read over REST."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async

from sessions_app.rooms import presence
from sessions_app.rooms.models import AttendanceSegment
from tests.attendance.conftest import local, session_at
from tests.rooms.conftest import Socket, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

AFTERWARDS = dt.datetime(2026, 3, 20, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _room_settings(settings: Any) -> Any:
    # The in-process presence store outlives a test; a grace window as in production.
    # Time jumps by the hour here with no heartbeats in between: sockets must not expire.
    settings.REDIS_URL = ""
    settings.ROOM_GRACE_SECONDS = 30
    settings.ROOM_PRESENCE_TTL_SECONDS = 24 * 3600
    # Likewise the in-memory layer would drop a channel whose message waits > 60 s.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"expiry": 30 * 86400, "group_expiry": 30 * 86400},
        }
    }
    presence._store.cache_clear()
    yield
    presence._store.cache_clear()


@pytest.fixture
def join(client_for: Callable[..., Any]) -> Callable[..., Any]:
    async def open_as(user: Any, session: Any) -> Socket:
        def ticket() -> str:
            response = client_for(user).post(f"/api/sessions/{session.pk}/ticket/")
            assert response.status_code == 201, response.content
            return response.json()["ticket"]

        socket = await open_socket(session.pk, await sync_to_async(ticket)())
        assert (await socket.receive())["type"] == "room.state"
        return socket

    return open_as


@pytest.fixture
def report(client_for: Callable[..., Any]) -> Callable[..., Any]:
    async def read(user: Any, cohort: Any, week: str, patient: Any) -> dict[str, Any]:
        def get() -> Any:
            return client_for(user).get(f"/api/cohorts/{cohort.pk}/attendance/", {"week": week})

        response = await sync_to_async(get)()
        assert response.status_code == 200
        [row] = [p for p in response.json()["patients"] if p["patient"]["id"] == patient.pk]
        return row

    return read


def clock(at: dt.datetime) -> Any:
    """One frozen clock for the whole scenario, moved forward with ``move_to``. Leaving
    it in between would age the in-memory channel layer's groups out."""
    return time_machine.travel(at, tick=False)


async def _state_of(staff: Socket, user_id: int, state: str) -> None:
    while True:
        frame = await staff.receive_about("presence.updated", user_id)
        if frame["participant"]["state"] == state:
            return


async def _end(staff: Socket) -> None:
    await staff.send({"type": "session.end"})
    await staff.receive_type("session.ended")


def _segment_count(user: Any) -> int:
    return AttendanceSegment.objects.filter(user=user).count()


def _minutes(start: dt.datetime, minutes: float) -> dt.datetime:
    return start + dt.timedelta(minutes=minutes)


async def test_drop_and_reconnect_inside_grace_counts_continuously_on_the_start_day(
    enrolled_since_january: Any, join: Any, report: Any
):
    cast = enrolled_since_january
    # 23:00 to 01:00 in New York: the minutes belong to Tuesday 3 March.
    session = await sync_to_async(session_at)(
        cast.cohort, local(2026, 3, 3, 23), 120, waiting_room=False
    )
    start = session.starts_at
    with clock(start) as now:
        staff = await join(cast.facilitator, session)
        patient = await join(cast.patient, session)
        now.move_to(_minutes(start, 50))
        await patient.close()
        now.move_to(_minutes(start, 50.3))  # back 20 s later, inside the 30 s grace
        patient = await join(cast.patient, session)
        now.move_to(_minutes(start, 110))
        await _end(staff)
        await patient.close()
        await staff.close()
        now.move_to(AFTERWARDS)
        row = await report(cast.facilitator, cast.cohort, "2026-W10", cast.patient)

    assert await sync_to_async(_segment_count)(cast.patient) == 1
    [day] = row["days"]
    assert day["date"] == "2026-03-03"
    assert day["measured_minutes"] == 110


async def test_waiting_room_time_is_not_counted(enrolled_since_january, join, report):
    cast = enrolled_since_january
    session = await sync_to_async(session_at)(cast.cohort, local(2026, 3, 2, 18), 180)
    start = session.starts_at
    with clock(_minutes(start, -10)) as now:
        staff = await join(cast.facilitator, session)
        patient = await join(cast.patient, session)
        now.move_to(_minutes(start, 20))
        await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
        await _state_of(staff, cast.patient.pk, "admitted")
        now.move_to(_minutes(start, 60))
        await _end(staff)
        await patient.close()
        await staff.close()
        now.move_to(AFTERWARDS)
        row = await report(cast.facilitator, cast.cohort, "2026-W10", cast.patient)

    assert row["total_minutes"] == 40


async def test_step_out_for_a_private_check_in_counts(enrolled_since_january, join, report):
    cast = enrolled_since_january
    session = await sync_to_async(session_at)(cast.cohort, local(2026, 3, 2, 18), 180)
    start = session.starts_at
    with clock(start) as now:
        staff = await join(cast.facilitator, session)
        patient = await join(cast.patient, session)
        await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
        await _state_of(staff, cast.patient.pk, "admitted")
        now.move_to(_minutes(start, 30))
        await staff.send({"type": "participant.step_out", "user_id": cast.patient.pk})
        await _state_of(staff, cast.patient.pk, "waiting")
        now.move_to(_minutes(start, 45))
        await staff.send({"type": "waiting.admit", "user_id": cast.patient.pk})
        await _state_of(staff, cast.patient.pk, "admitted")
        now.move_to(_minutes(start, 90))
        await _end(staff)
        await patient.close()
        await staff.close()
        now.move_to(AFTERWARDS)
        row = await report(cast.facilitator, cast.cohort, "2026-W10", cast.patient)

    # The check-in stays inside one stretch.
    assert await sync_to_async(_segment_count)(cast.patient) == 1
    assert row["total_minutes"] == 90


async def test_week_across_daylight_saving_sums_room_time_by_local_day(
    enrolled_since_january, join, report
):
    cast = enrolled_since_january
    monday = await sync_to_async(session_at)(
        cast.cohort, local(2026, 3, 2, 18), 120, waiting_room=False
    )
    # Sunday 8 March, after the clocks went forward; and the next local Monday at 00:30,
    # which a week counted as 7 x 24 h from Monday's UTC midnight would wrongly include.
    sunday = await sync_to_async(session_at)(
        cast.cohort, local(2026, 3, 8, 18), 120, waiting_room=False
    )
    next_monday = await sync_to_async(session_at)(
        cast.cohort, local(2026, 3, 9, 0, 30), 60, waiting_room=False
    )
    with clock(monday.starts_at) as now:
        for session, minutes in ((monday, 100), (sunday, 80), (next_monday, 50)):
            now.move_to(session.starts_at)
            staff = await join(cast.facilitator, session)
            patient = await join(cast.patient, session)
            now.move_to(_minutes(session.starts_at, minutes))
            await _end(staff)
            await patient.close()
            await staff.close()
        now.move_to(AFTERWARDS)
        row = await report(cast.facilitator, cast.cohort, "2026-W10", cast.patient)

    assert [(d["date"], d["minutes"]) for d in row["days"]] == [
        ("2026-03-02", 100),
        ("2026-03-08", 80),
    ]
    assert row["total_minutes"] == 180
