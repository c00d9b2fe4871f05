import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    # --fail-on-warn: an endpoint whose serializer or enum names are unresolved fails here.
    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    assert "openapi: 3" in text
    assert "bearerAuth" in text


def test_schema_is_served_without_a_token(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert "/api/auth/login/" in response.json()["paths"]


def _schema(api):
    return api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


@pytest.mark.parametrize("path", ["/api/notes/", "/api/notes/overdue/", "/api/me/records/notes/"])
def test_note_lists_document_their_page_envelope(api, path):
    ok = _schema(api)["paths"][path]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[-1].startswith("Paginated")


def test_cohort_start_time_is_documented_as_a_local_time_without_offset(api):
    # OpenAPI's "time" format is RFC 3339 full-time, which demands a UTC offset.
    schemas = _schema(api)["components"]["schemas"]
    for name in ("Cohort", "CohortInputRequest"):
        start_time = schemas[name]["properties"]["start_time"]
        assert "format" not in start_time
        assert start_time["pattern"]
