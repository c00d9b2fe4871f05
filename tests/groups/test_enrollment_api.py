import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from groups.models import Enrollment
from tests.factories import EnrollmentFactory, UserFactory
from vioip.accounts.models import Role
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def enroll_url(cohort):
    return f"/api/cohorts/{cohort.pk}/enrollments/"


def discharge_url(enrollment):
    return f"/api/cohorts/{enrollment.cohort_id}/enrollments/{enrollment.pk}/discharge/"


def today():
    # The cast's cohorts keep New York time; "today" for a discharge is theirs, which
    # differs from UTC's date for several hours a day.
    return timezone.localdate(timezone=ZoneInfo("America/New_York"))


def test_admin_enrolls_a_patient_who_then_sees_the_cohort(cast, client_for):
    newcomer = UserFactory(role=Role.PATIENT)
    response = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {"patient": newcomer.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "active"
    assert client_for(newcomer).get(f"/api/cohorts/{cast.cohort.pk}/").status_code == 200
    event = AuditEvent.objects.get(action="create", object_type="enrollment")
    assert event.patient_id == newcomer.pk


@pytest.mark.parametrize("role", [Role.FACILITATOR, Role.CLINICIAN, Role.ADMIN, Role.AUDITOR])
def test_enrolling_a_user_who_is_not_a_patient_is_refused(cast, client_for, role):
    user = UserFactory(role=role)
    before = Enrollment.objects.count()
    response = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {"patient": user.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "patient" in response.json()["fields"]
    assert Enrollment.objects.count() == before


def test_a_planned_end_before_the_start_is_refused(cast, client_for):
    newcomer = UserFactory(role=Role.PATIENT)
    response = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {
            "patient": newcomer.pk,
            "start_date": today().isoformat(),
            "planned_end_date": (today() - dt.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "planned_end_date" in response.json()["fields"]
    assert not Enrollment.objects.filter(patient=newcomer).exists()


def test_a_patient_is_enrolled_once_per_cohort(cast, client_for):
    response = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {"patient": cast.patient.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "patient" in response.json()["fields"]
    assert Enrollment.objects.filter(patient=cast.patient).count() == 1


def test_a_full_cohort_refuses_another_patient_with_a_clear_message(cast, client_for):
    cast.cohort.capacity = 2
    cast.cohort.save(update_fields=["capacity"])
    EnrollmentFactory(cohort=cast.cohort)
    # A discharged patient no longer takes a place.
    EnrollmentFactory(
        cohort=cast.cohort, status="discharged", discharged_on=today() - dt.timedelta(days=1)
    )
    newcomer = UserFactory(role=Role.PATIENT)
    response = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {"patient": newcomer.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["fields"]["non_field_errors"] == ["The cohort is full (2 places taken)."]
    assert not Enrollment.objects.filter(patient=newcomer).exists()


def test_discharge_records_the_reason_and_aftercare_plan(cast, client_for):
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    discharged_on = today() - dt.timedelta(days=1)
    response = client_for(cast.admin).post(
        discharge_url(enrollment),
        {
            "reason": "stepped_down",
            "discharged_on": discharged_on.isoformat(),
            "aftercare": {"level": "weekly_outpatient", "notes": "Weekly with Dr. Chen."},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "discharged"
    assert body["discharge_reason"] == "stepped_down"
    assert body["discharged_on"] == discharged_on.isoformat()
    # Admins record the plan; only the care team reads its notes.
    assert body["aftercare"] == {"level": "weekly_outpatient"}
    roster = client_for(cast.clinician).get(enroll_url(cast.cohort)).json()["results"]
    mine = next(e for e in roster if e["id"] == enrollment.pk)
    assert mine["aftercare"] == {"level": "weekly_outpatient", "notes": "Weekly with Dr. Chen."}
    enrollment.refresh_from_db()
    assert enrollment.discharged_by == cast.admin
    # Aftercare notes are clinical text: encrypted at rest.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT aftercare_notes FROM groups_enrollment WHERE id = %s", [enrollment.pk]
        )
        assert "Dr. Chen" not in cursor.fetchone()[0]
    # The audit trail names the change, never the notes.
    event = AuditEvent.objects.get(object_type="enrollment", object_id=str(enrollment.pk))
    assert event.detail["aftercare_level"] == "weekly_outpatient"
    assert "Chen" not in str(event.detail)


def test_a_discharged_patient_leaves_the_cohort_and_may_be_readmitted(cast, client_for):
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    body = {
        "reason": "completed",
        "discharged_on": today().isoformat(),
        "aftercare": {"level": "none"},
    }
    assert (
        client_for(cast.admin).post(discharge_url(enrollment), body, format="json").status_code
        == 200
    )
    assert client_for(cast.patient).get(f"/api/cohorts/{cast.cohort.pk}/").status_code == 404
    assert (
        client_for(cast.admin).post(discharge_url(enrollment), body, format="json").status_code
        == 409
    )
    readmit = client_for(cast.admin).post(
        enroll_url(cast.cohort),
        {"patient": cast.patient.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert readmit.status_code == 201


def test_admins_see_the_aftercare_level_but_not_the_notes(cast, client_for):
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    client_for(cast.admin).post(
        discharge_url(enrollment),
        {
            "reason": "completed",
            "discharged_on": today().isoformat(),
            "aftercare": {"level": "alumni_group", "notes": "Alumni group on Thursdays."},
        },
        format="json",
    )
    by_admin = client_for(cast.admin).get(enroll_url(cast.cohort)).json()["results"]
    by_facilitator = client_for(cast.facilitator).get(enroll_url(cast.cohort)).json()["results"]
    assert by_admin[0]["aftercare"] == {"level": "alumni_group"}
    assert by_facilitator[0]["aftercare"]["notes"] == "Alumni group on Thursdays."


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": "felt_better"}, "reason"),
        ({"aftercare": {"level": "spa"}}, "aftercare"),
        ({"aftercare": {}}, "aftercare"),
        ({"discharged_on": "not-a-date"}, "discharged_on"),
        ({"discharged_on": "2000-01-01"}, "discharged_on"),
        ({"discharged_on": "2999-01-01"}, "discharged_on"),
    ],
)
def test_bad_discharge_input_changes_nothing(cast, client_for, change, field):
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    body = {
        "reason": "completed",
        "discharged_on": today().isoformat(),
        "aftercare": {"level": "none"},
    } | change
    response = client_for(cast.admin).post(discharge_url(enrollment), body, format="json")
    assert response.status_code == 400
    # A nested field is keyed by its dotted path (aftercare.level).
    assert field in {key.split(".")[0] for key in response.json()["fields"]}
    enrollment.refresh_from_db()
    assert enrollment.status == "active"


def test_a_discharge_dated_today_in_the_cohorts_zone_is_accepted_before_utc_midnight(
    cast, client_for
):
    # 01:00 UTC on 2 March is still 1 March in New York (and in Honolulu).
    cast.cohort.timezone = "Pacific/Honolulu"
    cast.cohort.save(update_fields=["timezone"])
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    enrollment.start_date = dt.date(2027, 2, 1)
    enrollment.save(update_fields=["start_date"])
    with time_machine.travel(dt.datetime(2027, 3, 2, 1, 0, tzinfo=dt.UTC), tick=False):
        client = client_for(cast.admin)
        body = {"reason": "completed", "aftercare": {"level": "none"}}
        tomorrow_there = client.post(
            discharge_url(enrollment), body | {"discharged_on": "2027-03-02"}, format="json"
        )
        today_there = client.post(
            discharge_url(enrollment), body | {"discharged_on": "2027-03-01"}, format="json"
        )
    assert tomorrow_there.status_code == 400
    assert today_there.status_code == 200


def test_a_discharge_of_an_enrollment_in_another_cohort_is_not_found(cast, client_for):
    elsewhere = Enrollment.objects.get(patient=cast.other_patient)
    url = f"/api/cohorts/{cast.cohort.pk}/enrollments/{elsewhere.pk}/discharge/"
    body = {
        "reason": "completed",
        "discharged_on": today().isoformat(),
        "aftercare": {"level": "none"},
    }
    assert client_for(cast.admin).post(url, body, format="json").status_code == 404


def test_patients_see_their_group_by_first_name_and_last_initial_only(cast, client_for):
    EnrollmentFactory(
        cohort=cast.cohort,
        patient=UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim"),
        planned_end_date=today() + dt.timedelta(days=60),
    )
    EnrollmentFactory(
        cohort=cast.cohort,
        patient=UserFactory(role=Role.PATIENT, first_name="Gone", last_name="Away"),
        status="discharged",
        discharged_on=today(),
        discharge_reason="withdrawn",
    )
    response = client_for(cast.patient).get(enroll_url(cast.cohort))
    assert response.status_code == 200
    assert sorted(response.json()["results"], key=lambda m: m["display_name"]) == [
        {"display_name": "Alex R.", "is_self": True},
        {"display_name": "Jordan K.", "is_self": False},
    ]
    assert AuditEvent.objects.filter(
        action="read", object_type="cohort_roster", actor=cast.patient
    ).exists()


def test_staff_see_the_full_roster_with_enrollment_details(cast, client_for):
    response = client_for(cast.facilitator).get(enroll_url(cast.cohort))
    [row] = response.json()["results"]
    assert row["patient"] == cast.patient.pk
    assert row["display_name"] == "Alex R."
    assert row["status"] == "active"
    assert "start_date" in row


def test_roster_makes_a_bounded_number_of_queries(cast, client_for, django_assert_max_num_queries):
    client = client_for(cast.clinician)
    for _ in range(25):
        EnrollmentFactory(cohort=cast.cohort)
    cast.cohort.capacity = 40
    cast.cohort.save(update_fields=["capacity"])
    # Authentication, cohort, count, page, and the audit event (lock, insert, head):
    # a constant, far below one query per row.
    with django_assert_max_num_queries(15):
        response = client.get(enroll_url(cast.cohort) + "?page_size=100")
    assert response.json()["count"] == 26


def test_a_facilitators_refused_discharge_is_audited(cast, client_for):
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    body = {
        "reason": "withdrawn",
        "discharged_on": today().isoformat(),
        "aftercare": {"level": "none"},
    }
    response = client_for(cast.facilitator).post(discharge_url(enrollment), body, format="json")
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="denied", object_type="enrollment")
    assert (event.actor_id, event.outcome, event.object_id) == (
        cast.facilitator.pk,
        "denied",
        str(enrollment.pk),
    )
    enrollment.refresh_from_db()
    assert enrollment.status == "active"


@pytest.mark.parametrize("actor", ["clinician", "facilitator"])
def test_care_team_members_cannot_enroll_or_discharge_and_the_attempt_is_audited(
    cast, client_for, actor
):
    """Staff never grant themselves a patient: the relationship is made by admins."""
    user = getattr(cast, actor)
    newcomer = cast.other_patient
    enrolled = client_for(user).post(
        enroll_url(cast.cohort),
        {"patient": newcomer.pk, "start_date": today().isoformat()},
        format="json",
    )
    assert enrolled.status_code == 403
    assert not Enrollment.objects.filter(cohort=cast.cohort, patient=newcomer).exists()
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    discharged = client_for(user).post(
        discharge_url(enrollment),
        {
            "reason": "completed",
            "discharged_on": today().isoformat(),
            "aftercare": {"level": "none"},
        },
        format="json",
    )
    assert discharged.status_code == 403
    enrollment.refresh_from_db()
    assert enrollment.status == "active"
    denials = AuditEvent.objects.filter(action="denied", actor=user, object_type="enrollment")
    assert denials.count() == 2


@pytest.mark.parametrize("reader", ["clinician", "facilitator", "admin", "patient"])
def test_a_roster_read_is_audited_once_per_patient_shown(cast, client_for, reader):
    """Membership of a program is Part 2 information: the trail lists, for each patient,
    who saw that they are enrolled."""
    classmate = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=classmate)
    user = getattr(cast, reader)
    assert client_for(user).get(enroll_url(cast.cohort)).status_code == 200
    auditor = client_for(cast.auditor)
    for patient in (cast.patient, classmate):
        found = auditor.get("/api/audit/", {"patient": patient.pk, "action": "read"}).json()
        reads = [e for e in found["results"] if e["object_type"] == "cohort_roster"]
        assert len(reads) == 1, reads
    # Nobody outside the cohort was named.
    other = auditor.get("/api/audit/", {"patient": cast.other_patient.pk, "action": "read"})
    assert other.json()["count"] == 0
