import pytest

from groups.models import Cohort
from tests.factories import CareTeamFactory, CohortFactory, EnrollmentFactory
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

VALID = {
    "name": "Evening DD IOP",
    "track": "dual_diagnosis",
    "modality": "virtual",
    "timezone": "America/Denver",
    "meeting_days": [4, 1, 2],
    "start_time": "18:00",
    "duration_minutes": 180,
    "start_date": "2027-01-04",
}


def test_admin_creates_a_cohort_with_program_defaults(cast, client_for):
    response = client_for(cast.admin).post("/api/cohorts/", VALID, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["meeting_days"] == [1, 2, 4]
    assert body["capacity"] == 12
    assert body["program_weeks"] == 12
    assert body["status"] == "active"
    assert body["waiting_room"] is True
    assert body["end_date"] is None
    assert AuditEvent.objects.filter(
        action="create", object_type="cohort", object_id=str(body["id"])
    ).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timezone": "America/Atlantis"}, "timezone"),
        ({"timezone": "EST5EDT-ish"}, "timezone"),
        ({"meeting_days": [0, 2]}, "meeting_days"),
        ({"meeting_days": [1, 8]}, "meeting_days"),
        ({"meeting_days": [1, 3, 1]}, "meeting_days"),
        ({"meeting_days": []}, "meeting_days"),
        ({"meeting_days": ["monday"]}, "meeting_days"),
        ({"end_date": "2027-01-03"}, "end_date"),
        ({"duration_minutes": 20}, "duration_minutes"),
        ({"duration_minutes": 481}, "duration_minutes"),
        ({"capacity": 0}, "capacity"),
        ({"track": "wellness"}, "track"),
    ],
)
def test_bad_cohort_input_is_refused_with_a_field_error(cast, client_for, change, field):
    before = Cohort.objects.count()
    response = client_for(cast.admin).post("/api/cohorts/", VALID | change, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    # A nested field is keyed by its dotted path (meeting_days.0).
    assert field in {key.split(".")[0] for key in body["fields"]}
    assert Cohort.objects.count() == before


def test_patching_an_end_date_before_the_existing_start_changes_nothing(cast, client_for):
    cohort = cast.cohort
    response = client_for(cast.admin).patch(
        f"/api/cohorts/{cohort.pk}/",
        {"name": "Renamed", "end_date": (cohort.start_date.replace(year=2000)).isoformat()},
        format="json",
    )
    assert response.status_code == 400
    assert "end_date" in response.json()["fields"]
    cohort.refresh_from_db()
    assert cohort.name == "Evening SUD IOP"
    assert cohort.end_date is None


def test_admin_changes_a_cohort_schedule(cast, client_for):
    response = client_for(cast.admin).patch(
        f"/api/cohorts/{cast.cohort.pk}/",
        {"meeting_days": [5, 3, 1], "waiting_room": False, "status": "archived"},
        format="json",
    )
    assert response.status_code == 200
    cast.cohort.refresh_from_db()
    assert cast.cohort.meeting_days == [1, 3, 5]
    assert cast.cohort.waiting_room is False
    assert cast.cohort.status == "archived"


def test_capacity_cannot_drop_below_the_patients_already_enrolled(cast, client_for):
    EnrollmentFactory(cohort=cast.cohort)
    response = client_for(cast.admin).patch(
        f"/api/cohorts/{cast.cohort.pk}/", {"capacity": 1}, format="json"
    )
    assert response.status_code == 400
    assert "capacity" in response.json()["fields"]
    cast.cohort.refresh_from_db()
    assert cast.cohort.capacity == 12


def test_each_role_lists_only_the_cohorts_it_belongs_to(cast, client_for):
    def names(user):
        response = client_for(user).get("/api/cohorts/")
        assert response.status_code == 200
        return {c["name"] for c in response.json()["results"]}

    both = {"Evening SUD IOP", "Morning MH IOP"}
    assert names(cast.admin) == both
    assert names(cast.facilitator) == {"Evening SUD IOP"}
    assert names(cast.patient) == {"Evening SUD IOP"}
    assert names(cast.other_clinician) == {"Morning MH IOP"}
    assert names(cast.outsider) == set()


def test_cohort_list_counts_active_enrollments(cast, client_for):
    EnrollmentFactory(cohort=cast.cohort)
    EnrollmentFactory(cohort=cast.cohort, status="discharged", discharged_on=cast.cohort.start_date)
    response = client_for(cast.admin).get(f"/api/cohorts/{cast.cohort.pk}/")
    assert response.json()["active_enrollments"] == 2


def test_cohort_list_makes_a_bounded_number_of_queries(
    cast, client_for, django_assert_max_num_queries
):
    client = client_for(cast.clinician)
    for _ in range(30):
        cohort = CohortFactory()
        CareTeamFactory(cohort=cohort, user=cast.clinician, role="clinician")
        EnrollmentFactory(cohort=cohort)
    with django_assert_max_num_queries(6):
        response = client.get("/api/cohorts/?page_size=100")
    assert response.json()["count"] == 31
