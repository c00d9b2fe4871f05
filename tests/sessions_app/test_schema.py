import pytest

pytestmark = pytest.mark.django_db


def test_schema_describes_cohort_and_session_endpoints(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/cohorts/",
        "/api/cohorts/{cohort_id}/staff/{user_id}/",
        "/api/cohorts/{cohort_id}/enrollments/{enrollment_id}/discharge/",
        "/api/cohorts/{cohort_id}/sessions/generate/",
        "/api/sessions/{session_id}/cancel/",
        "/api/me/sessions/",
    ):
        assert path in paths
    assert {"from", "to", "cohort", "kind", "status"} <= {
        p["name"] for p in paths["/api/sessions/"]["get"]["parameters"]
    }
