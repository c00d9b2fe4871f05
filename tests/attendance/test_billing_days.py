from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import time_machine

from sessions_app.attendance.models import AttendanceAdjustment
from sessions_app.models import SessionKind
from tests.attendance.conftest import attend, local, session_at
from tests.factories import CareTeamFactory, EnrollmentFactory, UserFactory
from vioip.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db

RANGE = {"from": "2026-03-02", "to": "2026-03-08"}


@pytest.fixture
def week_of_attendance(enrolled_since_january):
    cast = enrolled_since_january
    with time_machine.travel(dt.datetime(2026, 3, 20, tzinfo=dt.UTC), tick=False):
        monday = session_at(cast.cohort, local(2026, 3, 2, 18))
        individual = session_at(
            cast.cohort,
            local(2026, 3, 2, 12),
            50,
            kind=SessionKind.INDIVIDUAL,
            patient=cast.patient,
        )
        tuesday = session_at(cast.cohort, local(2026, 3, 3, 23), 120)  # past midnight
        session_at(cast.cohort, local(2026, 3, 5, 18))  # missed
        attend(monday, cast.patient, 170)
        attend(individual, cast.patient)
        attend(tuesday, cast.patient, 90)
        AttendanceAdjustment.objects.create(
            session=tuesday,
            patient=cast.patient,
            minutes=30,
            reason="dropped call",
            created_by=cast.clinician,
        )
        yield cast


def _get(client, cohort, **extra):
    return client.get(f"/api/cohorts/{cohort.pk}/billing-days/", {**RANGE, **extra})


def test_billing_days_has_one_row_per_patient_day_attended(week_of_attendance, client_for):
    cast = week_of_attendance

    response = _get(client_for(cast.clinician), cast.cohort)

    assert response.status_code == 200
    rows = response.json()["rows"]
    assert [(r["date"], r["patient_id"]) for r in rows] == [
        ("2026-03-02", cast.patient.pk),
        ("2026-03-03", cast.patient.pk),
    ]
    monday, tuesday = rows
    assert monday["minutes"] == 220
    assert monday["sessions"] == 2
    assert monday["sessions_group_therapy"] == 1
    assert monday["sessions_individual"] == 1
    assert monday["billing_code"] == "H0015"
    assert monday["track"] == "substance_use"
    assert monday["meets_daily_minimum"] is True
    assert tuesday["measured_minutes"] == 90
    assert tuesday["adjustment_minutes"] == 30
    assert tuesday["minutes"] == 120
    assert tuesday["meets_daily_minimum"] is False


def test_billing_csv_opens_as_a_sheet_and_matches_the_json(week_of_attendance, client_for):
    cast = week_of_attendance
    client = client_for(cast.admin)
    as_json = _get(client, cast.cohort).json()

    response = _get(client, cast.cohort, format="csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    sheet = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(sheet[0]) == as_json["columns"]
    assert len(sheet) == len(as_json["rows"])
    for line, row in zip(sheet, as_json["rows"], strict=True):
        assert dt.date.fromisoformat(line["date"]).isoformat() == row["date"]
        for column in as_json["columns"]:
            expected = row[column]
            if isinstance(expected, bool):
                expected = "true" if expected else "false"
            assert line[column] == str(expected), column


def test_billing_csv_is_chosen_by_the_accept_header_too(week_of_attendance, client_for):
    cast = week_of_attendance
    response = client_for(cast.clinician).get(
        f"/api/cohorts/{cast.cohort.pk}/billing-days/", RANGE, HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200
    assert response.content.decode().splitlines()[0].startswith("date,patient_id,cohort_id")


def test_cohort_name_cannot_become_a_spreadsheet_formula(week_of_attendance, client_for):
    cast = week_of_attendance
    cast.cohort.name = '=HYPERLINK("http://x")'
    cast.cohort.save(update_fields=["name"])
    response = _get(client_for(cast.clinician), cast.cohort, format="csv")
    sheet = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sheet[0]["cohort"].startswith("'=")


def test_every_billing_export_is_audited_with_its_format(week_of_attendance, client_for):
    cast = week_of_attendance
    client = client_for(cast.clinician)
    _get(client, cast.cohort)
    _get(client, cast.cohort, format="csv")

    events = AuditEvent.objects.filter(action=Action.EXPORT, object_type="billing_days")
    assert [e.detail["format"] for e in events.order_by("seq")] == ["json", "csv"]
    assert {e.patient_id for e in events} == {cast.patient.pk}
    assert "dropped call" not in str([e.detail for e in events])


def test_billing_range_must_be_ordered_and_at_most_a_year(cast, client_for):
    client = client_for(cast.clinician)
    backwards = _get(client, cast.cohort, **{"from": "2026-03-08", "to": "2026-03-01"})
    too_long = _get(client, cast.cohort, **{"from": "2025-01-01", "to": "2026-03-01"})
    bad = _get(client, cast.cohort, **{"from": "yesterday"})
    assert backwards.status_code == too_long.status_code == bad.status_code == 400
    assert bad.json()["fields"]["from"]


@pytest.mark.parametrize("who", ["facilitator", "patient"])
def test_who_sees_the_cohort_but_is_not_its_clinician_or_an_admin_cannot_export(
    cast, client_for, who
):
    response = _get(client_for(getattr(cast, who)), cast.cohort)
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action=Action.EXPORT, outcome="allowed").exists()
    assert AuditEvent.objects.filter(
        action=Action.DENIED, object_type="billing_days", actor=getattr(cast, who)
    ).exists()


def test_auditors_are_refused_billing_days_by_role(cast, client_for):
    assert _get(client_for(cast.auditor), cast.cohort).status_code == 403


@pytest.mark.parametrize("who", ["other_clinician", "outsider", "other_patient"])
def test_who_cannot_see_the_cohort_gets_404_for_billing_days(cast, client_for, who):
    assert _get(client_for(getattr(cast, who)), cast.cohort).status_code == 404


def test_refused_csv_request_still_answers_in_csv_without_data(cast, client_for):
    response = _get(client_for(cast.facilitator), cast.cohort, format="csv")
    assert response.status_code == 404
    assert response.content.decode().startswith("code,detail")


def test_reports_stay_bounded_for_fifteen_patients_over_twelve_weeks(
    cast, client_for, django_assert_max_num_queries
):
    start = dt.date(2026, 1, 5)
    patients = [UserFactory(role="patient") for _ in range(15)]
    for patient in patients:
        EnrollmentFactory(cohort=cast.cohort, patient=patient, start_date=start)
    CareTeamFactory(cohort=cast.cohort, user=UserFactory(role="clinician"), role="clinician")
    for week in range(12):
        for weekday in (0, 1, 3):
            day = start + dt.timedelta(weeks=week, days=weekday)
            session = session_at(cast.cohort, local(day.year, day.month, day.day, 18))
            for patient in patients:
                attend(session, patient, 150)
    client = client_for(cast.clinician)

    with time_machine.travel(dt.datetime(2026, 4, 10, tzinfo=dt.UTC), tick=False):
        with django_assert_max_num_queries(20):
            billing = _get(client, cast.cohort, **{"from": "2026-01-05", "to": "2026-03-29"})
        with django_assert_max_num_queries(20):
            week = client.get(f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": "2026-W12"})

    assert len(billing.json()["rows"]) == 15 * 12 * 3
    assert all(
        p["days_attended"] == 3
        for p in week.json()["patients"]
        if p["patient"]["id"] != cast.patient.pk
    )


@pytest.mark.parametrize(
    ("days", "field"),
    [({"from": "9999-12-30", "to": "9999-12-31"}, "to"), ({"from": "0001-01-01"}, "from")],
)
def test_billing_days_off_the_ends_of_the_calendar_are_a_field_error(cast, client_for, days, field):
    url = f"/api/cohorts/{cast.cohort.pk}/billing-days/"
    response = client_for(cast.clinician).get(url, days)

    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_billing_days_on_the_last_day_allowed_are_answered(cast, client_for):
    url = f"/api/cohorts/{cast.cohort.pk}/billing-days/"
    response = client_for(cast.clinician).get(url, {"from": "9999-12-29", "to": "9999-12-30"})

    assert response.status_code == 200, response.json()
