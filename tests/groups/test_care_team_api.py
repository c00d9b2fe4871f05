import pytest

from groups.models import CareTeamMember
from tests.factories import UserFactory
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db


def staff_url(cast, *rest):
    return "/".join([f"/api/cohorts/{cast.cohort.pk}/staff", *map(str, rest)]) + "/"


def test_admin_assigns_a_facilitator_who_then_sees_the_cohort(cast, client_for):
    james = UserFactory(role=Role.FACILITATOR, first_name="James", last_name="Okafor")
    assert client_for(james).get(f"/api/cohorts/{cast.cohort.pk}/").status_code == 404
    response = client_for(cast.admin).post(
        staff_url(cast), {"user": james.pk, "role": "facilitator"}, format="json"
    )
    assert response.status_code == 201
    assert response.json() == {
        "user": james.pk,
        "role": "facilitator",
        "display_name": "James Okafor",
    }
    assert client_for(james).get(f"/api/cohorts/{cast.cohort.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("role_of_user", "role_asked", "field"),
    [
        (Role.PATIENT, "facilitator", "user"),
        (Role.ADMIN, "clinician", "user"),
        (Role.AUDITOR, "clinician", "user"),
        (Role.CLINICIAN, "facilitator", "role"),
        (Role.FACILITATOR, "clinician", "role"),
        (Role.CLINICIAN, "nurse", "role"),
    ],
)
def test_only_users_of_the_assigned_role_join_a_care_team(
    cast, client_for, role_of_user, role_asked, field
):
    user = UserFactory(role=role_of_user)
    before = CareTeamMember.objects.count()
    response = client_for(cast.admin).post(
        staff_url(cast), {"user": user.pk, "role": role_asked}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert CareTeamMember.objects.count() == before


def test_assigning_someone_twice_is_refused(cast, client_for):
    response = client_for(cast.admin).post(
        staff_url(cast), {"user": cast.clinician.pk, "role": "clinician"}, format="json"
    )
    assert response.status_code == 400
    assert "user" in response.json()["fields"]


def test_unassigned_staff_lose_access_to_the_cohort(cast, client_for):
    response = client_for(cast.admin).delete(staff_url(cast, cast.facilitator.pk))
    assert response.status_code == 204
    assert client_for(cast.facilitator).get(f"/api/cohorts/{cast.cohort.pk}/").status_code == 404
    assert client_for(cast.admin).delete(staff_url(cast, cast.facilitator.pk)).status_code == 404


def test_patients_see_their_care_team_by_name(cast, client_for):
    response = client_for(cast.patient).get(staff_url(cast))
    assert response.status_code == 200
    assert {(m["role"], m["display_name"]) for m in response.json()["results"]} == {
        ("facilitator", cast.facilitator.display_name),
        ("clinician", cast.clinician.display_name),
    }


def test_care_team_list_makes_a_bounded_number_of_queries(
    cast, client_for, django_assert_max_num_queries
):
    client = client_for(cast.admin)
    for _ in range(20):
        CareTeamMember.objects.create(
            cohort=cast.cohort, user=UserFactory(role=Role.CLINICIAN), role="clinician"
        )
    with django_assert_max_num_queries(6):
        response = client.get(staff_url(cast) + "?page_size=100")
    assert response.json()["count"] == 22
