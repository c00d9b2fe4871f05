import datetime as dt
import zoneinfo

import pytest

from sessions_app.models import Session
from tests.factories import CohortFactory, SessionFactory

pytestmark = pytest.mark.django_db

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture
def evening_cohort(cast):
    cohort = cast.cohort
    cohort.start_date = dt.date(2026, 9, 1)
    cohort.save(update_fields=["start_date"])
    return cohort


def generate(client, cohort, date_from, date_to):
    return client.post(
        f"/api/cohorts/{cohort.pk}/sessions/generate/",
        {"from": date_from, "to": date_to},
        format="json",
    )


def starts(response):
    return [dt.datetime.fromisoformat(s["starts_at"]) for s in response.json()["sessions"]]


def test_generation_keeps_the_local_start_across_the_spring_change(
    cast, client_for, evening_cohort
):
    # Mon/Tue/Thu 18:00 in New York; clocks go forward on Sunday 14 March 2027.
    response = generate(client_for(cast.facilitator), evening_cohort, "2027-03-08", "2027-03-19")
    assert response.status_code == 201
    assert response.json()["created"] == 6
    utc = starts(response)
    assert [s.astimezone(NEW_YORK).strftime("%a %H:%M") for s in utc] == [
        "Mon 18:00",
        "Tue 18:00",
        "Thu 18:00",
    ] * 2
    assert [s.astimezone(dt.UTC).hour for s in utc] == [23, 23, 23, 22, 22, 22]
    for session in response.json()["sessions"]:
        length = dt.datetime.fromisoformat(session["ends_at"]) - dt.datetime.fromisoformat(
            session["starts_at"]
        )
        assert length == dt.timedelta(minutes=180)
        assert session["kind"] == "group_therapy"
        assert session["status"] == "scheduled"
        assert session["waiting_room"] is True


def test_generation_keeps_the_local_start_across_the_autumn_change(
    cast, client_for, evening_cohort
):
    # Clocks go back on Sunday 1 November 2026; a morning group in London changes on 25 Oct.
    response = generate(client_for(cast.admin), evening_cohort, "2026-10-26", "2026-11-06")
    assert [s.astimezone(dt.UTC).hour for s in starts(response)] == [22, 22, 22, 23, 23, 23]
    london = CohortFactory(
        timezone="Europe/London",
        meeting_days=[1, 2, 3, 4, 5],
        start_time=dt.time(9, 0),
        start_date=dt.date(2026, 1, 5),
    )
    response = generate(client_for(cast.admin), london, "2026-10-22", "2026-10-27")
    assert [(s.day, s.astimezone(dt.UTC).hour) for s in starts(response)] == [
        (22, 8),
        (23, 8),
        (26, 9),
        (27, 9),
    ]


def test_generating_twice_creates_nothing_new(cast, client_for, evening_cohort):
    client = client_for(cast.clinician)
    first = generate(client, evening_cohort, "2027-01-04", "2027-01-31")
    assert first.json()["created"] == 12
    again = generate(client, evening_cohort, "2027-01-04", "2027-01-31")
    assert again.status_code == 200
    assert again.json() == {"created": 0, "sessions": []}
    wider = generate(client, evening_cohort, "2027-01-25", "2027-02-07")
    assert wider.json()["created"] == 3
    assert Session.objects.filter(cohort=evening_cohort, generated=True).count() == 15


def test_a_cancelled_or_moved_generated_session_is_not_generated_again(
    cast, client_for, evening_cohort
):
    client = client_for(cast.facilitator)
    first, second, *_ = generate(client, evening_cohort, "2027-01-04", "2027-01-10").json()[
        "sessions"
    ]
    client.post(f"/api/sessions/{first['id']}/cancel/", {"reason": "Holiday"}, format="json")
    later = dt.datetime.fromisoformat(second["starts_at"]) + dt.timedelta(hours=1)
    moved = client.patch(
        f"/api/sessions/{second['id']}/",
        {"starts_at": later.isoformat(), "ends_at": (later + dt.timedelta(hours=3)).isoformat()},
        format="json",
    )
    assert moved.status_code == 200
    assert generate(client, evening_cohort, "2027-01-04", "2027-01-10").json()["created"] == 0


def test_generation_stays_within_the_cohorts_dates(cast, client_for):
    cohort = CohortFactory(
        meeting_days=[1, 2, 3, 4, 5],
        start_date=dt.date(2027, 2, 3),
        end_date=dt.date(2027, 2, 9),
    )
    response = generate(client_for(cast.admin), cohort, "2027-02-01", "2027-02-28")
    assert [s.astimezone(NEW_YORK).date().isoformat() for s in starts(response)] == [
        "2027-02-03",
        "2027-02-04",
        "2027-02-05",
        "2027-02-08",
        "2027-02-09",
    ]


def test_one_off_sessions_do_not_block_generation(cast, client_for, evening_cohort):
    slot = dt.datetime(2027, 1, 4, 18, 0, tzinfo=NEW_YORK)
    SessionFactory(cohort=evening_cohort, starts_at=slot, kind="workshop")
    response = generate(client_for(cast.admin), evening_cohort, "2027-01-04", "2027-01-04")
    assert response.json()["created"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"from": "2027-01-01", "to": "2028-01-01"}, "to"),
        ({"from": "2028-02-29", "to": "2029-03-01"}, "to"),
        ({"from": "2027-02-01", "to": "2027-01-01"}, "to"),
        ({"from": "2027-02-30", "to": "2027-03-01"}, "from"),
        ({"to": "2027-03-01"}, "from"),
    ],
)
def test_bad_generation_ranges_are_refused_and_create_nothing(
    cast, client_for, evening_cohort, body, field
):
    response = client_for(cast.admin).post(
        f"/api/cohorts/{evening_cohort.pk}/sessions/generate/", body, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert not Session.objects.filter(generated=True).exists()


def test_a_full_year_is_generated_at_once(cast, client_for, evening_cohort):
    response = generate(client_for(cast.admin), evening_cohort, "2027-01-01", "2027-12-31")
    assert response.status_code == 201
    assert response.json()["created"] == 52 * 3  # 2027 has 52 Mondays, Tuesdays, Thursdays


def test_archived_cohorts_get_no_new_sessions(cast, client_for, evening_cohort):
    evening_cohort.status = "archived"
    evening_cohort.save(update_fields=["status"])
    response = generate(client_for(cast.admin), evening_cohort, "2027-01-04", "2027-01-10")
    assert response.status_code == 400
    assert not Session.objects.filter(generated=True).exists()
