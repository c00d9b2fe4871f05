"""Sessions through the care relationship, and one audit event per patient a session read
names, found by the auditor under ``GET /api/audit/?patient=N``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from groups.models import CareTeamMember
from tests.factories import EnrollmentFactory, SessionFactory, UserFactory
from vioip.accounts.models import Role, User
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SOON = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)


@pytest.fixture
def schedule(cast: Any) -> Any:
    """A group session of the cohort, an individual session of the cast's patient and one
    of a classmate; the other cohort has an individual session of its own patient."""
    cast.classmate = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=cast.classmate)
    cast.group = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    cast.individual = SessionFactory(
        cohort=cast.cohort,
        kind="individual",
        patient=cast.patient,
        starts_at=SOON + dt.timedelta(hours=4),
    )
    cast.classmate_individual = SessionFactory(
        cohort=cast.cohort,
        kind="family",
        patient=cast.classmate,
        starts_at=SOON + dt.timedelta(hours=6),
    )
    cast.elsewhere = SessionFactory(
        cohort=cast.other_cohort,
        kind="individual",
        patient=cast.other_patient,
        starts_at=SOON + dt.timedelta(hours=8),
    )
    return cast


def found(client_for: Any, cast: Any, patient: Any, actor: Any) -> list[dict[str, Any]]:
    response = client_for(cast.auditor).get(
        "/api/audit/",
        {"patient": patient.pk, "actor": actor.pk, "object_type": "session", "page_size": 200},
    )
    assert response.status_code == 200
    return list(response.json()["results"])


def listed(client: Any, url: str = "/api/sessions/") -> set[int]:
    response = client.get(url + ("&" if "?" in url else "?") + "page_size=100")
    assert response.status_code == 200
    return {s["id"] for s in response.json()["results"]}


# --- Audit per patient -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/api/sessions/", "/api/sessions/?cohort={cohort}", "/api/me/sessions/"]
)
def test_a_session_list_is_found_once_under_each_patient_it_names(
    schedule: Any, client_for: Any, url: str
) -> None:
    cast = schedule
    url = url.format(cohort=cast.cohort.pk)
    shown = listed(client_for(cast.clinician), url)
    assert {cast.individual.pk, cast.classmate_individual.pk, cast.group.pk} <= shown

    for patient, session in (
        (cast.patient, cast.individual),
        (cast.classmate, cast.classmate_individual),
    ):
        [event] = found(client_for, cast, patient, cast.clinician)
        assert event["action"] == "read" and event["detail"]["sessions"] == [session.pk]
    assert found(client_for, cast, cast.other_patient, cast.clinician) == []
    # A group session names nobody: nothing is written for it, and nothing without a patient.
    assert not AuditEvent.objects.filter(object_type="session", patient__isnull=True).exists()


def test_a_list_of_group_sessions_only_writes_no_patient_event(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    listed(client_for(cast.facilitator), "/api/sessions/?kind=group_therapy")
    assert not AuditEvent.objects.filter(object_type="session").exists()


def test_a_patient_listing_their_schedule_is_audited_against_themselves_only(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    shown = listed(client_for(cast.patient), "/api/me/sessions/")
    assert shown == {cast.group.pk, cast.individual.pk}
    assert len(found(client_for, cast, cast.patient, cast.patient)) == 1
    assert found(client_for, cast, cast.classmate, cast.patient) == []


def test_the_detail_of_an_individual_session_names_its_patient(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    client = client_for(cast.admin)
    assert client.get(f"/api/sessions/{cast.individual.pk}/").status_code == 200
    assert client.get(f"/api/sessions/{cast.group.pk}/").status_code == 200

    [event] = found(client_for, cast, cast.patient, cast.admin)
    assert event["object_id"] == str(cast.individual.pk)
    assert AuditEvent.objects.filter(object_type="session").count() == 1


# --- Who is refused ---------------------------------------------------------------------------


def test_a_session_the_caller_may_not_see_is_a_404_audited_against_its_patient(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    response = client_for(cast.classmate).get(f"/api/sessions/{cast.individual.pk}/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    denial = AuditEvent.objects.get(actor=cast.classmate, outcome="denied")
    assert (denial.object_type, denial.patient_id) == ("session", cast.patient.pk)
    missing = client_for(cast.classmate).get("/api/sessions/999999/")
    assert missing.status_code == 404 and missing.json() == response.json()


def test_a_member_removed_from_the_care_team_sees_none_of_its_sessions(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    client = client_for(cast.facilitator)
    assert cast.individual.pk in listed(client)
    removed = client_for(cast.admin).delete(
        f"/api/cohorts/{cast.cohort.pk}/staff/{cast.facilitator.pk}/"
    )
    assert removed.status_code == 204

    assert listed(client) == set()
    assert listed(client, "/api/me/sessions/") == set()
    for session in (cast.group, cast.individual):
        assert client.get(f"/api/sessions/{session.pk}/").status_code == 404
        changed = client.patch(f"/api/sessions/{session.pk}/", {"title": "x"}, format="json")
        assert changed.status_code == 404


def test_a_demoted_clinician_whose_membership_stays_sees_no_session(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    User.objects.filter(pk=cast.clinician.pk).update(role=Role.FACILITATOR)
    assert CareTeamMember.objects.filter(user=cast.clinician, role="clinician").exists()
    client = client_for(cast.clinician)

    assert listed(client) == set()
    assert client.get(f"/api/sessions/{cast.group.pk}/").status_code == 404


def test_staff_no_longer_see_the_sessions_of_a_patient_past_the_documentation_window(
    schedule: Any, client_for: Any, settings: Any
) -> None:
    cast = schedule
    settings.POST_DISCHARGE_DAYS = 2
    cast.patient.enrollments.update(
        status="discharged", discharged_on=timezone.localdate() - dt.timedelta(days=1)
    )
    client = client_for(cast.clinician)
    assert cast.individual.pk in listed(client)

    cast.patient.enrollments.update(discharged_on=timezone.localdate() - dt.timedelta(days=3))

    assert cast.individual.pk not in listed(client)
    assert cast.group.pk in listed(client)
    assert client.get(f"/api/sessions/{cast.individual.pk}/").status_code == 404
    assert client_for(cast.admin).get(f"/api/sessions/{cast.individual.pk}/").status_code == 200


def test_a_discharged_patient_sees_not_even_their_own_session(
    schedule: Any, client_for: Any
) -> None:
    cast = schedule
    cast.patient.enrollments.update(status="discharged", discharged_on=timezone.localdate())
    client = client_for(cast.patient)

    assert listed(client, "/api/me/sessions/") == set()
    assert client.get(f"/api/sessions/{cast.individual.pk}/").status_code == 404
    assert AuditEvent.objects.filter(actor=cast.patient, outcome="denied").count() == 1


def test_auditors_are_refused_sessions_by_role(schedule: Any, client_for: Any) -> None:
    cast = schedule
    client = client_for(cast.auditor)
    assert client.get("/api/sessions/").status_code == 403
    assert client.get(f"/api/sessions/{cast.individual.pk}/").status_code == 403
