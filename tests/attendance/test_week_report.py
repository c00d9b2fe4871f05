from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.models import SessionKind
from tests.attendance.conftest import attend, local, session_at
from vioip.audit.models import Action, AuditEvent

# ISO week 2026-W10 is Monday 2 to Sunday 8 March; New York moves to summer time at
# 02:00 on Sunday 8 March, so this week is 167 hours long.
WEEK = "2026-W10"
AFTER_WEEK = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def after_week():
    with time_machine.travel(AFTER_WEEK, tick=False):
        yield


def _report(client_for, user, cohort, week=WEEK):
    return client_for(user).get(f"/api/cohorts/{cohort.pk}/attendance/", {"week": week})


def _patient_row(body, patient):
    [row] = [p for p in body["patients"] if p["patient"]["id"] == patient.pk]
    return row


def test_week_report_sums_minutes_per_day_against_the_minimums(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    monday = session_at(cast.cohort, local(2026, 3, 2, 18))
    tuesday = session_at(cast.cohort, local(2026, 3, 3, 18))
    thursday = session_at(cast.cohort, local(2026, 3, 5, 18))
    attend(monday, cast.patient)  # 180
    attend(tuesday, cast.patient, 120)
    attend(thursday, cast.patient, 100, after=20)
    attend(thursday, cast.patient, 30, after=140)

    response = _report(client_for, cast.facilitator, cast.cohort)

    assert response.status_code == 200
    body = response.json()
    assert body["week"] == WEEK
    assert body["cohort"]["weekly_minimum_minutes"] == 540
    assert body["cohort"]["daily_minimum_minutes"] == 180
    assert body["cohort"]["billing_code"] == "H0015"
    row = _patient_row(body, cast.patient)
    assert [d["date"] for d in row["days"]] == ["2026-03-02", "2026-03-03", "2026-03-05"]
    assert [d["minutes"] for d in row["days"]] == [180, 120, 130]
    assert [d["below_daily_minimum"] for d in row["days"]] == [False, True, True]
    assert row["total_minutes"] == 430
    assert row["total_hours"] == pytest.approx(7.17)
    assert row["days_attended"] == 3
    assert row["days_meeting_daily_minimum"] == 1
    assert row["below_weekly_minimum"] is True
    assert row["minutes_to_minimum"] == 110
    assert row["days"][0]["sessions"][0]["status"] == "attended"


def test_week_report_uses_nine_hours_for_adults_and_six_for_adolescents(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    cast.cohort.population = "adolescent"
    cast.cohort.save(update_fields=["population"])
    for day in (2, 3, 5):
        attend(session_at(cast.cohort, local(2026, 3, day, 18), 120), cast.patient)

    row = _patient_row(_report(client_for, cast.clinician, cast.cohort).json(), cast.patient)

    assert row["total_minutes"] == 360
    assert row["below_weekly_minimum"] is False


def test_cohort_configured_minimums_and_billing_code_override_the_defaults(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    cast.cohort.weekly_minimum_minutes = 120
    cast.cohort.daily_minimum_minutes = 60
    cast.cohort.billing_code = "S9480"
    cast.cohort.save(
        update_fields=["weekly_minimum_minutes", "daily_minimum_minutes", "billing_code"]
    )
    attend(session_at(cast.cohort, local(2026, 3, 2, 18)), cast.patient, 130)

    body = _report(client_for, cast.clinician, cast.cohort).json()

    assert body["cohort"]["billing_code"] == "S9480"
    row = _patient_row(body, cast.patient)
    assert row["below_weekly_minimum"] is False
    assert row["days"][0]["below_daily_minimum"] is False


def test_mental_health_cohort_bills_s9480(enrolled_since_january, client_for, after_week):
    cast = enrolled_since_january
    body = _report(client_for, cast.other_clinician, cast.other_cohort).json()
    assert body["cohort"]["billing_code"] == "S9480"


def test_session_crossing_midnight_counts_on_the_day_it_started(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    late = session_at(cast.cohort, local(2026, 3, 3, 23), 120)  # 04:00-06:00 UTC on the 4th
    attend(late, cast.patient)

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    assert [(d["date"], d["minutes"]) for d in row["days"]] == [("2026-03-03", 120)]


def test_week_across_daylight_saving_change_holds_its_local_days_only(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    monday = session_at(cast.cohort, local(2026, 3, 2, 0, 30), 60)  # 05:30 UTC, winter time
    sunday = session_at(cast.cohort, local(2026, 3, 8, 18), 60)  # 22:00 UTC, summer time
    # 04:30 UTC on the 9th: inside "Monday 05:00 UTC + 7 x 24 h", but Monday the 9th here.
    next_monday = session_at(cast.cohort, local(2026, 3, 9, 0, 30), 60)
    for session in (monday, sunday, next_monday):
        attend(session, cast.patient)

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    assert [d["date"] for d in row["days"]] == ["2026-03-02", "2026-03-08"]
    assert row["total_minutes"] == 120
    following = _patient_row(
        _report(client_for, cast.facilitator, cast.cohort, "2026-W11").json(), cast.patient
    )
    assert [d["date"] for d in following["days"]] == ["2026-03-09"]


def test_planned_absence_shows_as_excused_and_does_not_count_as_absent(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    sessions = [session_at(cast.cohort, local(2026, 3, d, 18)) for d in (2, 3, 5)]
    PlannedAbsence.objects.create(session=sessions[1], patient=cast.patient, reason="court date")

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    statuses = [s["status"] for d in row["days"] for s in d["sessions"]]
    assert statuses == ["absent", "excused", "absent"]
    assert row["sessions_excused"] == 1
    assert row["sessions_absent"] == 2
    assert row["consecutive_absences"] == 2
    assert "court date" not in str(row)


def test_consecutive_absences_look_back_past_the_week_and_stop_at_attendance(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    attend(session_at(cast.cohort, local(2026, 2, 23, 18)), cast.patient)
    session_at(cast.cohort, local(2026, 2, 26, 18))
    session_at(cast.cohort, local(2026, 3, 2, 18))
    session_at(cast.cohort, local(2026, 3, 3, 18))

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    assert row["consecutive_absences"] == 3


def test_adjustment_is_shown_apart_from_measured_minutes_and_capped_at_the_session(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    session = session_at(cast.cohort, local(2026, 3, 2, 18))
    attend(session, cast.patient, 100)
    AttendanceAdjustment.objects.create(
        session=session,
        patient=cast.patient,
        minutes=120,
        reason="phone",
        created_by=cast.clinician,
    )

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    [entry] = row["days"][0]["sessions"]
    assert entry["measured_minutes"] == 100
    assert entry["adjustment_minutes"] == 120
    assert entry["minutes"] == 180
    assert row["measured_minutes"] == 100
    assert row["adjustment_minutes"] == 120


def test_makeup_session_counts_toward_the_week_it_is_held_in(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    missed = session_at(cast.cohort, local(2026, 2, 26, 18))
    makeup = session_at(
        cast.cohort,
        local(2026, 3, 4, 12),
        60,
        kind=SessionKind.INDIVIDUAL,
        patient=cast.patient,
        makeup_for=missed,
    )
    attend(makeup, cast.patient)

    row = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)

    [day] = row["days"]
    assert day["date"] == "2026-03-04"
    assert day["sessions"][0]["makeup_for"] == missed.pk
    assert row["total_minutes"] == 60


def test_another_patients_individual_session_is_not_expected_of_the_patient(
    enrolled_since_january, client_for, after_week
):
    cast = enrolled_since_january
    from tests.factories import EnrollmentFactory, UserFactory

    other = UserFactory(role="patient")
    EnrollmentFactory(cohort=cast.cohort, patient=other, start_date=dt.date(2026, 1, 5))
    session_at(cast.cohort, local(2026, 3, 4, 12), 60, kind=SessionKind.INDIVIDUAL, patient=other)

    body = _report(client_for, cast.facilitator, cast.cohort).json()

    assert _patient_row(body, cast.patient)["days"] == []
    assert len(_patient_row(body, other)["days"]) == 1


def test_reading_the_week_report_is_audited(enrolled_since_january, client_for, after_week):
    cast = enrolled_since_january
    _report(client_for, cast.facilitator, cast.cohort)
    event = AuditEvent.objects.get(action=Action.READ, object_type="attendance_report")
    assert event.actor_id == cast.facilitator.pk
    assert event.patient_id == cast.patient.pk


def test_bad_week_is_a_field_error(cast, client_for):
    response = _report(client_for, cast.facilitator, cast.cohort, week="2026-10")
    assert response.status_code == 400
    assert response.json()["fields"]["week"]


@pytest.mark.parametrize("who", ["facilitator", "clinician", "admin"])
def test_cohort_staff_and_admins_read_the_week_report(cast, client_for, who):
    assert _report(client_for, getattr(cast, who), cast.cohort).status_code == 200


def test_patient_of_the_cohort_cannot_read_the_week_report(cast, client_for):
    response = _report(client_for, cast.patient, cast.cohort)
    assert response.status_code == 404
    assert AuditEvent.objects.filter(
        action=Action.DENIED, outcome="denied", actor=cast.patient, object_type="attendance_report"
    ).exists()


@pytest.mark.parametrize("who", ["other_clinician", "outsider", "other_patient"])
def test_who_cannot_see_the_cohort_gets_404_for_its_week_report(cast, client_for, who):
    assert _report(client_for, getattr(cast, who), cast.cohort).status_code == 404


def test_auditor_role_is_refused_attendance_reports_for_any_cohort(cast, client_for):
    assert _report(client_for, cast.auditor, cast.cohort).status_code == 403
    assert _report(client_for, cast.auditor, cast.other_cohort).status_code == 403


def test_anonymous_caller_cannot_read_the_week_report(cast, client_for):
    assert _report(client_for, None, cast.cohort).status_code == 401


def test_week_report_csv_has_one_row_per_patient_day_with_the_json_numbers(
    enrolled_since_january, client_for, after_week
):
    import csv
    import io

    cast = enrolled_since_january
    attend(session_at(cast.cohort, local(2026, 3, 2, 18)), cast.patient, 150)
    session_at(cast.cohort, local(2026, 3, 3, 18))
    client = client_for(cast.facilitator)
    days = _patient_row(_report(client_for, cast.facilitator, cast.cohort).json(), cast.patient)[
        "days"
    ]

    response = client.get(
        f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": WEEK}, HTTP_ACCEPT="text/csv"
    )

    assert response.status_code == 200
    sheet = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["date"], r["minutes"], r["sessions_absent"]) for r in sheet] == [
        (d["date"], str(d["minutes"]), str(len(d["sessions"]) - int(d["attended"]))) for d in days
    ]
    assert AuditEvent.objects.filter(action=Action.EXPORT, object_type="attendance_report").exists()
