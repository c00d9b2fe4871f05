"""Attendance through the care relationship: who is refused when the relationship changes
(demotion, removal from the care team, discharge and the documentation window), and one
audit event per patient for every read, found by the auditor under
``GET /api/audit/?patient=N``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine

from groups.models import CareTeamMember, Enrollment
from sessions_app.attendance.models import AttendanceAdjustment
from tests.attendance.conftest import attend, local, session_at
from tests.factories import EnrollmentFactory, UserFactory
from vioip.accounts.models import Role, User
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

WEEK = "2026-W10"
NOW = dt.datetime(2026, 3, 10, 15, tzinfo=dt.UTC)  # the Tuesday after the week


@pytest.fixture
def now() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def week(enrolled_since_january: Any, now: Any) -> Any:
    """Week 10 of 2026 attended by the cast's patient and a classmate, with an individual
    session of the patient."""
    cast = enrolled_since_january
    cast.classmate = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=cast.classmate, start_date=dt.date(2026, 1, 5))
    cast.group = session_at(cast.cohort, local(2026, 3, 2, 18))
    attend(cast.group, cast.patient)
    attend(cast.group, cast.classmate, 120)
    cast.individual = session_at(
        cast.cohort, local(2026, 3, 4, 12), 60, kind="individual", patient=cast.patient
    )
    attend(cast.individual, cast.patient)
    for patient in (cast.patient, cast.classmate):
        AttendanceAdjustment.objects.create(
            session=cast.group, patient=patient, minutes=10, reason="x", created_by=cast.clinician
        )
    cast.enrollment = Enrollment.objects.get(cohort=cast.cohort, patient=cast.patient)
    return cast


def report(client: Any, cast: Any) -> Any:
    return client.get(f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": WEEK})


def chart(client: Any, cast: Any) -> Any:
    return client.get(f"/api/cohorts/{cast.cohort.pk}/attendance/chart/", {"week": WEEK})


def billing(client: Any, cast: Any) -> Any:
    return client.get(
        f"/api/cohorts/{cast.cohort.pk}/billing-days/", {"from": "2026-03-02", "to": "2026-03-08"}
    )


def summary(client: Any, cast: Any) -> Any:
    return client.get(f"/api/cohorts/{cast.cohort.pk}/enrollments/{cast.enrollment.pk}/summary/")


def adjustments(client: Any, cast: Any) -> Any:
    return client.get(f"/api/sessions/{cast.group.pk}/attendance/adjustments/")


def adjust(client: Any, cast: Any) -> Any:
    return client.post(
        f"/api/sessions/{cast.group.pk}/attendance/adjustments/",
        {"patient": cast.patient.pk, "minutes": 5, "reason": "Phone confirmed"},
    )


def patients_in(response: Any) -> set[int]:
    return {p["patient"]["id"] for p in response.json()["patients"]}


def discharge(enrollment: Enrollment, *, days_ago: int) -> None:
    enrollment.status = "discharged"
    enrollment.discharged_on = NOW.date() - dt.timedelta(days=days_ago)
    enrollment.discharge_reason = "completed"
    enrollment.aftercare_level = "alumni_group"
    enrollment.save()


# --- Role changes -----------------------------------------------------------------------------


def demote(client_for: Any, cast: Any, how: str) -> None:
    if how == "api":
        response = client_for(cast.admin).patch(
            f"/api/users/{cast.clinician.pk}/", {"role": "facilitator"}, format="json"
        )
        assert response.status_code == 200, response.json()
    else:
        # However the memberships are kept, a clinician's one grants nothing to a facilitator.
        User.objects.filter(pk=cast.clinician.pk).update(role=Role.FACILITATOR)
        assert CareTeamMember.objects.filter(user=cast.clinician, role="clinician").exists()


@pytest.mark.parametrize("how", ["api", "database"])
def test_a_demoted_clinician_can_no_longer_export_billing_days_or_read_the_summary(
    week: Any, client_for: Any, how: str
) -> None:
    cast = week
    assert billing(client_for(cast.clinician), cast).status_code == 200
    assert summary(client_for(cast.clinician), cast).status_code == 200

    demote(client_for, cast, how)
    client = client_for(cast.clinician)

    refused_billing = billing(client, cast)
    refused_summary = summary(client, cast)
    assert refused_billing.status_code == refused_summary.status_code == 404
    assert "rows" not in refused_billing.json() and "aftercare" not in refused_summary.json()
    assert adjust(client, cast).status_code == 404
    assert not AttendanceAdjustment.objects.filter(minutes=5).exists()
    denied = AuditEvent.objects.filter(actor=cast.clinician, outcome="denied")
    assert denied.filter(object_type="billing_days").exists()
    assert denied.get(object_type="discharge_summary").patient_id == cast.patient.pk


def test_a_clinician_made_facilitator_of_the_cohort_reads_attendance_as_a_facilitator(
    week: Any, client_for: Any
) -> None:
    cast = week
    User.objects.filter(pk=cast.clinician.pk).update(role=Role.FACILITATOR)
    CareTeamMember.objects.filter(user=cast.clinician).update(role="facilitator")
    client = client_for(cast.clinician)

    assert report(client, cast).status_code == 200
    assert billing(client, cast).status_code == 404
    assert summary(client, cast).status_code == 404


# --- Care-team removal --------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["facilitator", "clinician"])
def test_a_member_removed_from_the_care_team_gets_404_for_every_attendance_read(
    week: Any, client_for: Any, who: str
) -> None:
    cast = week
    member = getattr(cast, who)
    client = client_for(member)
    assert report(client, cast).status_code == 200
    allowed = AuditEvent.objects.filter(actor=member, outcome="allowed")
    seen_before = allowed.count()
    removed = client_for(cast.admin).delete(f"/api/cohorts/{cast.cohort.pk}/staff/{member.pk}/")
    assert removed.status_code == 204

    for read in (report, chart, billing, summary, adjustments):
        assert read(client, cast).status_code == 404, read.__name__
    assert client.get(f"/api/sessions/{cast.individual.pk}/").status_code == 404
    assert allowed.count() == seen_before
    assert AuditEvent.objects.filter(actor=member, outcome="denied").count() == 6


# --- Discharge and the documentation window ------------------------------------------------------


def test_the_care_team_keeps_a_discharged_patient_inside_the_documentation_window(
    week: Any, client_for: Any
) -> None:
    cast = week
    discharge(cast.enrollment, days_ago=3)
    client = client_for(cast.clinician)

    assert cast.patient.pk in patients_in(report(client, cast))
    assert cast.patient.pk in {r["patient_id"] for r in billing(client, cast).json()["rows"]}
    assert summary(client, cast).status_code == 200


def test_after_the_documentation_window_only_admins_see_the_discharged_patient(
    week: Any, client_for: Any, settings: Any
) -> None:
    cast = week
    settings.POST_DISCHARGE_DAYS = 2
    discharge(cast.enrollment, days_ago=3)
    clinician, admin = client_for(cast.clinician), client_for(cast.admin)

    assert patients_in(report(clinician, cast)) == {cast.classmate.pk}
    assert {r["patient_id"] for r in billing(clinician, cast).json()["rows"]} == {cast.classmate.pk}
    assert {a["patient"] for a in adjustments(clinician, cast).json()} == {cast.classmate.pk}
    assert summary(clinician, cast).status_code == 404
    assert clinician.get(f"/api/sessions/{cast.individual.pk}/").status_code == 404
    assert cast.patient.pk in patients_in(report(admin, cast))
    assert summary(admin, cast).status_code == 200
    assert not AuditEvent.objects.filter(
        actor=cast.clinician, patient=cast.patient, outcome="allowed"
    ).exists()


def test_a_discharged_patient_sees_no_week_and_plans_no_absence(week: Any, client_for: Any) -> None:
    cast = week
    upcoming = session_at(cast.cohort, local(2026, 3, 12, 18))
    discharge(cast.enrollment, days_ago=0)
    client = client_for(cast.patient)

    assert client.get("/api/me/attendance/").json()["cohorts"] == []
    planned = client.post("/api/me/absences/", {"session": upcoming.pk, "reason": "Trip"})
    assert planned.status_code == 400
    assert AuditEvent.objects.filter(
        actor=cast.patient, outcome="denied", object_type="session", object_id=str(upcoming.pk)
    ).exists()
    for read in (report, summary, adjustments):
        assert read(client, cast).status_code == 404


def test_a_patient_cannot_withdraw_anothers_absence_and_the_attempt_is_audited(
    week: Any, client_for: Any
) -> None:
    cast = week
    upcoming = session_at(cast.cohort, local(2026, 3, 12, 18))
    planned = client_for(cast.classmate).post(
        "/api/me/absences/", {"session": upcoming.pk, "reason": "Trip"}
    )
    assert planned.status_code == 201

    response = client_for(cast.patient).delete(f"/api/me/absences/{planned.json()['id']}/")

    assert response.status_code == 404
    denial = AuditEvent.objects.get(actor=cast.patient, outcome="denied")
    assert (denial.object_type, denial.patient_id) == ("planned_absence", cast.classmate.pk)


# --- One event per patient -------------------------------------------------------------------


def found(client_for: Any, cast: Any, patient: Any, **filters: Any) -> list[dict[str, Any]]:
    """Events about ``patient`` as the auditor lists them (``actor`` a user)."""
    if "actor" in filters:
        filters["actor"] = filters["actor"].pk
    response = client_for(cast.auditor).get(
        "/api/audit/", {"patient": patient.pk, "page_size": 200, **filters}
    )
    assert response.status_code == 200
    return list(response.json()["results"])


@pytest.mark.parametrize(
    ("read", "object_type", "action", "classmate_too"),
    [
        (report, "attendance_report", "read", True),
        (chart, "attendance_chart", "read", True),
        (billing, "billing_days", "export", True),
        (adjustments, "attendance_adjustment", "read", True),
        (summary, "discharge_summary", "read", False),
    ],
)
def test_each_attendance_read_is_found_once_under_each_patient_it_shows(
    week: Any,
    client_for: Any,
    read: Any,
    object_type: str,
    action: str,
    classmate_too: bool,
) -> None:
    cast = week
    assert read(client_for(cast.clinician), cast).status_code == 200

    for patient, expected in ((cast.patient, 1), (cast.classmate, int(classmate_too))):
        events = found(client_for, cast, patient, actor=cast.clinician, object_type=object_type)
        assert len(events) == expected, patient
        assert all(e["action"] == action and e["outcome"] == "allowed" for e in events)
    assert not AuditEvent.objects.filter(object_type=object_type, patient__isnull=True).exists()


def test_a_csv_week_report_is_an_export_found_under_each_patient(
    week: Any, client_for: Any
) -> None:
    cast = week
    response = client_for(cast.facilitator).get(
        f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": WEEK}, HTTP_ACCEPT="text/csv"
    )
    assert response.status_code == 200
    for patient in (cast.patient, cast.classmate):
        [event] = found(client_for, cast, patient, object_type="attendance_report")
        assert event["action"] == "export" and event["detail"]["format"] == "csv"


def test_a_patient_reading_their_own_attendance_is_audited_against_themselves(
    week: Any, client_for: Any
) -> None:
    cast = week
    client = client_for(cast.patient)
    assert client.get("/api/me/attendance/", {"week": WEEK}).status_code == 200
    assert client.get("/api/me/absences/").status_code == 200

    events = found(client_for, cast, cast.patient, actor=cast.patient)
    assert {e["object_type"] for e in events} == {"attendance", "planned_absence"}
    assert found(client_for, cast, cast.classmate, actor=cast.patient) == []
