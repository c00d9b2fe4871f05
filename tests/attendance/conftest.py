"""Helpers for attendance tests: sessions at local times of the cohort's zone, and
measured segments written the way the room writes them."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from groups.models import Enrollment
from sessions_app.rooms.models import AttendanceSegment
from tests.factories import SessionFactory

NEW_YORK = ZoneInfo("America/New_York")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A time in the cast cohort's zone (America/New_York)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


def session_at(cohort: Any, start: dt.datetime, minutes: int = 180, **extra: Any) -> Any:
    return SessionFactory(
        cohort=cohort, starts_at=start, ends_at=start + dt.timedelta(minutes=minutes), **extra
    )


def attend(
    session: Any, user: Any, minutes: int | None = None, *, after: int = 0
) -> AttendanceSegment:
    """A closed segment of ``minutes`` starting ``after`` minutes into the session."""
    joined = session.starts_at + dt.timedelta(minutes=after)
    length = (
        minutes
        if minutes is not None
        else int((session.ends_at - session.starts_at).total_seconds() // 60)
    )
    return AttendanceSegment.objects.create(
        session=session, user=user, joined_at=joined, left_at=joined + dt.timedelta(minutes=length)
    )


@pytest.fixture
def enrolled_since_january(cast: Any) -> Any:
    """The cast's enrollments start on 2026-01-05, so 2026 weeks are in care."""
    Enrollment.objects.filter(cohort__in=[cast.cohort, cast.other_cohort]).update(
        start_date=dt.date(2026, 1, 5)
    )
    return cast
