"""Times are read back from the database as the instants that were stored: aware, in UTC,
to the microsecond, whatever offset they were given with. On PostgreSQL the ``timestamptz``
values are parsed by psycopg's C loader (vioip.core.pg_types), not Django's Python one."""

import datetime as dt

import pytest
from django.db import connection

from sessions_app.models import Session
from tests.factories import SessionFactory

pytestmark = pytest.mark.django_db

EASTERN = dt.timezone(dt.timedelta(hours=-5))


def test_a_session_scheduled_with_an_offset_is_read_back_as_the_same_instant_in_utc(
    cast, client_for
):
    starts = dt.datetime(2031, 3, 9, 1, 30, 0, 123456, tzinfo=EASTERN)
    response = client_for(cast.clinician).post(
        "/api/sessions/",
        {
            "cohort": cast.cohort.pk,
            "kind": "group_therapy",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + dt.timedelta(hours=3)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    read = client_for(cast.clinician).get(f"/api/sessions/{response.json()['id']}/").json()
    assert dt.datetime.fromisoformat(read["starts_at"].replace("Z", "+00:00")) == starts
    stored = Session.objects.get(pk=response.json()["id"])
    assert stored.starts_at == starts
    assert stored.starts_at.utcoffset() == dt.timedelta(0)
    assert (stored.starts_at.hour, stored.starts_at.microsecond) == (6, 123456)


def test_rows_read_raw_carry_utc_times_to_the_microsecond(cast):
    session = SessionFactory(cohort=cast.cohort)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT starts_at, ends_at FROM sessions_app_session WHERE id = %s", [session.pk]
        )
        starts_at, ends_at = cursor.fetchone()
    if connection.vendor == "sqlite":
        pytest.skip("SQLite returns text; Django's converters make the datetimes")
    assert (starts_at, ends_at) == (session.starts_at, session.ends_at)
    assert starts_at.tzinfo is dt.UTC
    assert starts_at.microsecond == session.starts_at.microsecond


@pytest.mark.skipif(connection.vendor != "postgresql", reason="timestamptz is PostgreSQL's")
def test_postgresql_literals_in_other_offsets_and_before_the_epoch_are_read_exactly():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT '2026-03-08 02:30:00.5-05'::timestamptz, "
            "'1969-07-20 20:17:40+00'::timestamptz, '2026-11-01 01:30:00+05:45'::timestamptz"
        )
        row = cursor.fetchone()
    assert row == (
        dt.datetime(2026, 3, 8, 7, 30, 0, 500000, tzinfo=dt.UTC),
        dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 31, 19, 45, tzinfo=dt.UTC),
    )
    assert all(value.tzinfo is dt.UTC for value in row)
