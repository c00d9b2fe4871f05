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


def test_schema_passes_the_openapi_spec_validator(api):
    from openapi_spec_validator import validate

    validate(_schema(api))


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield f"{method.upper()} {path}", operation


def test_every_operation_has_a_summary_and_documents_a_client_error(api):
    schema = _schema(api)
    operations = dict(_operations(schema))
    assert len(operations) > 50
    no_summary = [name for name, op in operations.items() if not op.get("summary", "").strip()]
    no_4xx = [
        name
        for name, op in operations.items()
        if not any(code.startswith("4") for code in op["responses"])
    ]
    assert no_summary == []
    assert no_4xx == []


def test_client_errors_use_the_standard_error_body(api):
    schema = _schema(api)
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"code", "detail"}
    assert {"code", "detail", "fields", "ref"} <= set(error["properties"])
    operations = dict(_operations(schema))
    # A body: bad input, too large; a record in the path: not found; a token: 401/403.
    create = operations["POST /api/sessions/{session_id}/cancel/"]["responses"]
    assert {"400", "401", "403", "404", "413"} <= set(create)
    for code in ("400", "401", "403", "404", "413"):
        ref = create[code]["content"]["application/json"]["schema"]["$ref"]
        assert ref == "#/components/schemas/Error"
        assert create[code]["description"]
    # A list with query filters can answer 400; one without a record id never answers 404.
    assert {"400", "401", "403"} <= set(operations["GET /api/sessions/"]["responses"])
    assert "404" not in operations["GET /api/sessions/"]["responses"]
    # A plain read without filters or a body has no 400 to document.
    assert "400" not in operations["GET /api/notes/overdue/"]["responses"]
    # Open to anyone: no 401/403 added; the login's own documented errors are kept.
    login = operations["POST /api/auth/login/"]["responses"]
    assert "403" not in login
    assert {"400", "401", "429"} <= set(login)


def test_summaries_come_from_the_handler_or_the_view_docstring(api):
    from groups.apis import CohortListApi
    from sessions_app.apis import MySessionListApi

    operations = dict(_operations(_schema(api)))
    cohorts = operations["GET /api/cohorts/"]
    assert cohorts["summary"] == CohortListApi.get.__doc__.strip()
    # The summary line is not repeated in the description.
    assert cohorts.get("description", "") == ""
    assert operations["GET /api/me/sessions/"]["summary"] == MySessionListApi.__doc__.strip()


def test_session_title_is_optional_without_a_default_it_refuses(api):
    title = _schema(api)["components"]["schemas"]["SessionCreateRequest"]["properties"]["title"]
    assert "default" not in title
    assert title["minLength"] == 1
