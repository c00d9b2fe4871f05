from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from groups.models import Enrollment
from groups.selectors import cohort_zone
from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.attendance.selectors import week_label, week_monday
from sessions_app.models import Session
from tests.attendance.conftest import attend, local, session_at
from tests.factories import SessionFactory
from vioip.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db


def _future(cast, cohort=None, hours=24):
    start = timezone.now() + dt.timedelta(hours=hours)
    return SessionFactory(cohort=cohort or cast.cohort, starts_at=start)


# --- Planned absences ----------------------------------------------------------------------


def test_patient_plans_an_absence_and_staff_see_it_as_excused(cast, client_for):
    session = _future(cast)
    response = client_for(cast.patient).post(
        "/api/me/absences/", {"session": session.pk, "reason": "Court hearing"}
    )
    assert response.status_code == 201
    assert response.json()["session"] == session.pk
    assert AuditEvent.objects.filter(
        action=Action.CREATE, object_type="planned_absence", patient=cast.patient
    ).exists()

    local_day = session.starts_at.astimezone(cohort_zone(cast.cohort)).date()
    report = client_for(cast.facilitator).get(
        f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": week_label(week_monday(local_day))}
    )
    [row] = [p for p in report.json()["patients"] if p["patient"]["id"] == cast.patient.pk]
    statuses = {s["session_id"]: s["status"] for d in row["days"] for s in d["sessions"]}
    assert statuses[session.pk] == "excused"


def test_patient_lists_and_withdraws_their_planned_absence(cast, client_for):
    session = _future(cast)
    client = client_for(cast.patient)
    created = client.post("/api/me/absences/", {"session": session.pk, "reason": "Work"}).json()
    assert [a["id"] for a in client.get("/api/me/absences/").json()] == [created["id"]]
    assert client.delete(f"/api/me/absences/{created['id']}/").status_code == 204
    assert not PlannedAbsence.objects.exists()


def test_absence_cannot_be_planned_twice_or_for_a_session_that_began(cast, client_for):
    client = client_for(cast.patient)
    session = _future(cast)
    assert (
        client.post("/api/me/absences/", {"session": session.pk, "reason": "x"}).status_code == 201
    )
    assert (
        client.post("/api/me/absences/", {"session": session.pk, "reason": "x"}).status_code == 409
    )
    begun = SessionFactory(cohort=cast.cohort)
    response = client.post("/api/me/absences/", {"session": begun.pk, "reason": "x"})
    assert response.status_code == 400
    assert response.json()["fields"]["session"]


def test_patient_cannot_plan_an_absence_from_another_cohorts_session(cast, client_for):
    other = _future(cast, cohort=cast.other_cohort)
    response = client_for(cast.patient).post(
        "/api/me/absences/", {"session": other.pk, "reason": "x"}
    )
    assert response.status_code == 400
    assert not PlannedAbsence.objects.exists()


def test_patient_cannot_withdraw_another_patients_absence(cast, client_for):
    session = _future(cast, cohort=cast.other_cohort)
    absence = PlannedAbsence.objects.create(session=session, patient=cast.other_patient, reason="x")
    response = client_for(cast.patient).delete(f"/api/me/absences/{absence.pk}/")
    assert response.status_code == 404
    assert PlannedAbsence.objects.filter(pk=absence.pk).exists()


@pytest.mark.parametrize("who", ["facilitator", "clinician", "admin", "auditor"])
def test_only_patients_plan_absences(cast, client_for, who):
    session = _future(cast)
    response = client_for(getattr(cast, who)).post(
        "/api/me/absences/", {"session": session.pk, "reason": "x"}
    )
    assert response.status_code == 403


# --- The patient's own week ----------------------------------------------------------------


def test_patient_sees_own_hours_against_the_minimum_and_sessions_remaining(
    enrolled_since_january, client_for
):
    cast = enrolled_since_january
    attend(session_at(cast.cohort, local(2026, 3, 2, 18)), cast.patient, 150)
    session_at(cast.cohort, local(2026, 3, 5, 18))
    session_at(cast.cohort, local(2026, 3, 6, 18))
    attend(session_at(cast.other_cohort, local(2026, 3, 3, 18)), cast.other_patient)

    with time_machine.travel(dt.datetime(2026, 3, 4, 12, tzinfo=dt.UTC), tick=False):
        response = client_for(cast.patient).get("/api/me/attendance/", {"week": "2026-W10"})

    assert response.status_code == 200
    [mine] = response.json()["cohorts"]
    assert mine["cohort"]["id"] == cast.cohort.pk
    assert mine["total_minutes"] == 150
    assert mine["weekly_minimum_minutes"] == 540
    assert mine["minutes_to_minimum"] == 390
    assert mine["sessions_remaining"] == 2
    assert [s["status"] for s in mine["sessions"]] == ["attended", "upcoming", "upcoming"]


def test_patient_week_defaults_to_the_current_week(cast, client_for):
    SessionFactory(cohort=cast.cohort)
    response = client_for(cast.patient).get("/api/me/attendance/")
    assert response.status_code == 200
    assert len(response.json()["cohorts"]) == 1


@pytest.mark.parametrize("who", ["facilitator", "clinician", "admin", "auditor"])
def test_my_attendance_is_for_patients_only(cast, client_for, who):
    assert client_for(getattr(cast, who)).get("/api/me/attendance/").status_code == 403


# --- Adjustments ---------------------------------------------------------------------------


def _adjust(client, session, patient, minutes=30, reason="Connection failed; confirmed by phone"):
    return client.post(
        f"/api/sessions/{session.pk}/attendance/adjustments/",
        {"patient": patient.pk, "minutes": minutes, "reason": reason},
    )


def test_cohort_clinician_adds_an_adjustment_which_is_audited_and_listed(cast, client_for):
    session = SessionFactory(cohort=cast.cohort)
    response = _adjust(client_for(cast.clinician), session, cast.patient)
    assert response.status_code == 201
    event = AuditEvent.objects.get(action=Action.CREATE, object_type="attendance_adjustment")
    assert event.patient_id == cast.patient.pk
    assert event.detail == {"session": session.pk, "minutes": 30}
    listed = client_for(cast.facilitator).get(f"/api/sessions/{session.pk}/attendance/adjustments/")
    assert [a["minutes"] for a in listed.json()] == [30]


def test_adjustment_must_fit_the_session_and_name_an_expected_patient(cast, client_for):
    client = client_for(cast.clinician)
    session = SessionFactory(cohort=cast.cohort)
    too_long = _adjust(client, session, cast.patient, minutes=181)
    stranger = _adjust(client, session, cast.other_patient)
    future = _adjust(client, _future(cast), cast.patient)
    blank = _adjust(client, session, cast.patient, reason=" ")
    assert too_long.status_code == 400 and too_long.json()["fields"]["minutes"]
    assert stranger.status_code == 400 and stranger.json()["fields"]["patient"]
    assert future.status_code == 400 and future.json()["fields"]["session"]
    assert blank.status_code == 400
    assert not AttendanceAdjustment.objects.exists()


@pytest.mark.parametrize("who", ["facilitator", "patient", "admin"])
def test_who_sees_the_session_but_is_not_its_clinician_cannot_adjust(cast, client_for, who):
    session = SessionFactory(cohort=cast.cohort)
    response = _adjust(client_for(getattr(cast, who)), session, cast.patient)
    assert response.status_code == 404
    assert not AttendanceAdjustment.objects.exists()
    assert AuditEvent.objects.filter(outcome="denied", object_type="attendance_adjustment").exists()


@pytest.mark.parametrize("who", ["other_clinician", "outsider", "other_patient"])
def test_who_cannot_see_the_session_gets_404_for_adjustments(cast, client_for, who):
    session = SessionFactory(cohort=cast.cohort)
    client = client_for(getattr(cast, who))
    assert _adjust(client, session, cast.patient).status_code == 404
    assert client.get(f"/api/sessions/{session.pk}/attendance/adjustments/").status_code == 404


def test_patient_cannot_list_adjustments(cast, client_for):
    session = SessionFactory(cohort=cast.cohort)
    response = client_for(cast.patient).get(f"/api/sessions/{session.pk}/attendance/adjustments/")
    assert response.status_code == 404


# --- Make-up sessions ----------------------------------------------------------------------


def test_staff_offer_a_makeup_session_for_a_missed_one(cast, client_for):
    missed = SessionFactory(cohort=cast.cohort, starts_at=timezone.now() - dt.timedelta(days=1))
    start = timezone.now() + dt.timedelta(days=1)
    response = client_for(cast.facilitator).post(
        f"/api/sessions/{missed.pk}/makeups/",
        {
            "patient": cast.patient.pk,
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
        },
    )
    assert response.status_code == 201
    makeup = Session.objects.get(pk=response.json()["id"])
    assert makeup.makeup_for_id == missed.pk
    assert makeup.patient_id == cast.patient.pk
    assert AuditEvent.objects.filter(object_type="session", action=Action.CREATE).exists()


@pytest.mark.parametrize(
    ("who", "status"), [("patient", 404), ("admin", 403), ("other_clinician", 404)]
)
def test_makeups_are_offered_by_the_care_team_only(cast, client_for, who, status):
    missed = SessionFactory(cohort=cast.cohort)
    start = timezone.now() + dt.timedelta(days=1)
    response = client_for(getattr(cast, who)).post(
        f"/api/sessions/{missed.pk}/makeups/",
        {
            "patient": cast.patient.pk,
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
        },
    )
    assert response.status_code == status
    assert not Session.objects.filter(makeup_for=missed).exists()


# --- Discharge summary ---------------------------------------------------------------------


@pytest.fixture
def discharged(enrolled_since_january):
    cast = enrolled_since_january
    enrollment = Enrollment.objects.get(cohort=cast.cohort, patient=cast.patient)
    enrollment.status = "discharged"
    enrollment.discharged_on = dt.date(2026, 3, 6)
    enrollment.discharge_reason = "completed"
    enrollment.aftercare_level = "alumni_group"
    enrollment.aftercare_notes = "Tuesday alumni group; SMART meetings"
    enrollment.save()
    attend(session_at(cast.cohort, local(2026, 3, 2, 18)), cast.patient)
    session_at(cast.cohort, local(2026, 3, 3, 18))
    excused = session_at(cast.cohort, local(2026, 3, 5, 18))
    PlannedAbsence.objects.create(session=excused, patient=cast.patient, reason="x")
    session_at(cast.cohort, local(2026, 3, 9, 18))  # after discharge
    return cast, enrollment


def _summary(client, cast, enrollment):
    return client.get(f"/api/cohorts/{cast.cohort.pk}/enrollments/{enrollment.pk}/summary/")


def test_discharge_summary_counts_attendance_and_shows_the_plan(discharged, client_for):
    cast, enrollment = discharged
    with time_machine.travel(dt.datetime(2026, 3, 20, tzinfo=dt.UTC), tick=False):
        response = _summary(client_for(cast.clinician), cast, enrollment)
    assert response.status_code == 200
    body = response.json()
    assert body["start_date"] == "2026-01-05"
    assert body["discharged_on"] == "2026-03-06"
    assert body["sessions_attended"] == 1
    assert body["sessions_missed"] == 1
    assert body["sessions_excused"] == 1
    assert body["total_minutes"] == 180
    assert body["discharge_reason"] == "completed"
    assert body["aftercare"] == {
        "level": "alumni_group",
        "notes": "Tuesday alumni group; SMART meetings",
    }
    assert set(body["screening_compliance"]) == {"due", "taken", "missed"}
    assert "result" not in str(body).lower()
    assert AuditEvent.objects.filter(object_type="discharge_summary", patient=cast.patient).exists()


def test_admin_reads_the_summary_without_the_aftercare_notes(discharged, client_for):
    cast, enrollment = discharged
    body = _summary(client_for(cast.admin), cast, enrollment).json()
    assert body["aftercare"] == {"level": "alumni_group", "notes": None}


@pytest.mark.parametrize(
    ("who", "status"),
    # The discharged patient no longer sees the cohort at all.
    [("facilitator", 404), ("patient", 404), ("other_clinician", 404), ("outsider", 404)],
)
def test_discharge_summary_is_refused_to_others(discharged, client_for, who, status):
    cast, enrollment = discharged
    assert _summary(client_for(getattr(cast, who)), cast, enrollment).status_code == status


def test_active_patient_of_the_cohort_cannot_read_a_discharge_summary(discharged, client_for):
    from tests.factories import EnrollmentFactory, UserFactory

    cast, enrollment = discharged
    member = UserFactory(role="patient")
    EnrollmentFactory(cohort=cast.cohort, patient=member)
    assert _summary(client_for(member), cast, enrollment).status_code == 404


def test_summary_of_an_enrollment_of_another_cohort_is_404(discharged, client_for):
    cast, _ = discharged
    foreign = Enrollment.objects.get(patient=cast.other_patient)
    assert _summary(client_for(cast.clinician), cast, foreign).status_code == 404


# --- Chart and schema ----------------------------------------------------------------------


def test_chart_is_a_png_for_the_care_team(enrolled_since_january, client_for):
    cast = enrolled_since_january
    attend(session_at(cast.cohort, local(2026, 3, 2, 18)), cast.patient)
    response = client_for(cast.facilitator).get(
        f"/api/cohorts/{cast.cohort.pk}/attendance/chart/", {"week": "2026-W10"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(("who", "status"), [("patient", 404), ("other_clinician", 404)])
def test_chart_is_refused_to_others(cast, client_for, who, status):
    response = client_for(getattr(cast, who)).get(
        f"/api/cohorts/{cast.cohort.pk}/attendance/chart/"
    )
    assert response.status_code == status


def test_schema_describes_the_attendance_endpoints(client_for, cast):
    response = client_for(None).get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/cohorts/{cohort_id}/attendance/",
        "/api/cohorts/{cohort_id}/billing-days/",
        "/api/me/absences/",
        "/api/sessions/{session_id}/attendance/adjustments/",
    ):
        assert path in text
