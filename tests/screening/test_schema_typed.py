"""The OpenAPI schema documents every screening operation with a typed response: a
component with its properties (or a page of them), never a bare object."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

SCREENING_PREFIXES = (
    "/api/screening/",
    "/api/me/records/screening/",
    "/api/me/records/disclosures/",
)


@pytest.fixture
def schema(api: Any) -> dict[str, Any]:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _screening_operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in schema["paths"].items()
        if path.startswith(SCREENING_PREFIXES)
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _component(schema: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _is_typed(schema: dict[str, Any], body: dict[str, Any]) -> bool:
    """A $ref to a component with properties, or an array of such."""
    if body.get("type") == "array":
        return _is_typed(schema, body.get("items", {}))
    if "$ref" not in body:
        return False
    component = _component(schema, body["$ref"])
    return bool(component.get("properties"))


def test_there_are_the_screening_operations_this_checks(schema: dict[str, Any]) -> None:
    assert len(_screening_operations(schema)) >= 26


def test_every_screening_success_response_is_a_typed_component(schema: dict[str, Any]) -> None:
    untyped = []
    for name, operation in _screening_operations(schema):
        successes = {c: r for c, r in operation["responses"].items() if c.startswith("2")}
        assert successes, name
        for code, response in successes.items():
            body = response.get("content", {}).get("application/json", {}).get("schema", {})
            if not _is_typed(schema, body):
                untyped.append((name, code, body))
    assert untyped == []


def test_lists_document_their_page_and_item_type(schema: dict[str, Any]) -> None:
    for path in ("/api/screening/tests/", "/api/screening/draw-schedule/"):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        page = _component(schema, ok["schema"]["$ref"])
        assert page["properties"]["results"]["type"] == "array"
        assert _is_typed(schema, page["properties"]["results"])


def test_every_screening_operation_has_a_one_line_summary_in_its_docstring(
    schema: dict[str, Any],
) -> None:
    # The first line of each view method's docstring is the operation's summary.
    missing = [
        name
        for name, operation in _screening_operations(schema)
        if not (operation.get("summary") or operation.get("description", "")).strip()
    ]
    assert missing == []


def test_query_parameters_are_typed_and_required_where_needed(schema: dict[str, Any]) -> None:
    def params(path: str) -> dict[str, dict[str, Any]]:
        operation = schema["paths"][path]["get"]
        return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}

    compliance = params("/api/screening/compliance/")
    assert compliance["cohort"]["required"] is True
    assert compliance["cohort"]["schema"]["type"] == "integer"
    assert compliance["from"]["schema"] == {"type": "string", "format": "date"}
    assert compliance["to"]["schema"] == {"type": "string", "format": "date"}
    assert params("/api/screening/draw-schedule/")["cohort"]["required"] is True
    assert params("/api/screening/medications/")["patient"]["required"] is True
    for path in (
        "/api/screening/tests/",
        "/api/screening/consents/",
        "/api/screening/disclosures/",
    ):
        assert params(path)["patient"]["schema"]["type"] == "integer"
        assert not params(path)["patient"].get("required", False)


def test_a_disclosure_package_holds_only_documented_keys(
    schema: dict[str, Any], cast: Any, client_for: Any
) -> None:
    from tests.screening.test_consents_and_disclosures import consent_body

    clin = client_for(cast.clinician)
    consent = clin.post("/api/screening/consents/", consent_body(cast), format="json").json()
    today = timezone.localdate()
    period = {"from": (today - dt.timedelta(days=30)).isoformat(), "to": today.isoformat()}
    package = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **period}, format="json"
    ).json()
    documented = _component(schema, "#/components/schemas/DisclosurePackageOutput")
    assert set(package) == set(documented["properties"])
    sections = _component(schema, "#/components/schemas/PackageSectionsOutput")
    assert set(package["sections"]) <= set(sections["properties"])
    assert package["sections"]


def test_every_screening_view_method_has_a_docstring_whose_first_line_summarises() -> None:
    from screening.urls import urlpatterns

    missing = []
    for pattern in urlpatterns:
        view = pattern.callback.view_class  # type: ignore[union-attr]
        for method in ("get", "post", "put", "patch", "delete"):
            handler = getattr(view, method, None)
            if handler is None:
                continue
            first_line = (handler.__doc__ or "").strip().splitlines()[:1]
            if not first_line or len(first_line[0]) > 100:
                missing.append(f"{view.__name__}.{method}")
    assert missing == []
