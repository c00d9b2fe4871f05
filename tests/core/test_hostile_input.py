"""Hostile input on every operation of the API schema: extreme query parameters, JSON
nested past the parser, lone surrogates, oversized and over-many-field bodies. Each gets a
4xx with the standard error body (``code``, ``detail``) and changes nothing; never a 500,
and nothing logged at ERROR.

The operations and their parameters come from ``/api/schema/``, so a new endpoint or
parameter is covered without editing this file."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import quote

import pytest

from vioip.audit.models import AuditEvent
from vioip.core.parsers import MAX_JSON_DEPTH

EXTREME_VALUES = [
    "9999-W52",
    "0001-W01",
    "2026-W00",
    "9999-12-31",
    "0001-01-01",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "10000-01-01",
    "2026-02-30",
    "99999999999999999999999",
    "-99999999999999999999",
    "1e400",
    "NaN",
    "%ED%A0%80%FF",  # a lone surrogate's UTF-8 bytes and a stray byte: not text
]
BODY_VALUES: list[Any] = [
    10**25,
    -(10**25),
    "9999-12-31",
    "9999-12-30",
    "0001-01-01",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    1e308,
]
ROLES = ["admin", "clinician", "facilitator", "patient", "auditor"]


@pytest.fixture
def schema(cast: Any, client_for: Any) -> dict[str, Any]:
    return client_for(cast.admin).get("/api/schema/", {"format": "json"}).json()


def _url(path: str, cast: Any, session: Any) -> str:
    """A concrete URL: the cast's cohort and session where the path names one."""
    path = path.replace("{cohort_id}", str(cast.cohort.pk))
    path = path.replace("{session_id}", str(session.pk))
    return re.sub(r"\{\w+\}", "1", path)


def _operations(schema: dict[str, Any], methods: set[str]) -> list[tuple[str, str, Any]]:
    return [
        (path, method, op)
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
        if method in methods and "logout" not in path
    ]


def _standard_error(response: Any) -> bool:
    body = response.json()
    return isinstance(body.get("code"), str) and isinstance(body.get("detail"), str)


def _no_errors_logged(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_schema_has_the_parameters_this_walks(schema: dict[str, Any]):
    names = {
        p["name"]
        for _, _, op in _operations(schema, {"get"})
        for p in op.get("parameters", [])
        if p["in"] == "query"
    }
    assert {"week", "from", "to", "since", "until", "patient", "cohort"} <= names


def test_extreme_query_parameters_are_never_a_server_error(
    schema: dict[str, Any], cast: Any, client_for: Any, live_session: Any, caplog: Any
):
    failures = []
    clients = {role: client_for(getattr(cast, role)) for role in ROLES}
    for path, _, op in _operations(schema, {"get"}):
        params = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
        url = _url(path, cast, live_session)
        for name in params:
            for value in EXTREME_VALUES:
                for role, client in clients.items():
                    response = client.get(f"{url}?{name}={quote(value, safe='%')}")
                    if response.status_code >= 500 or (
                        response.status_code >= 400
                        and response.get("Content-Type", "").startswith("application/json")
                        and not _standard_error(response)
                    ):
                        failures.append((role, url, name, value, response.status_code))
    assert not failures
    assert not _no_errors_logged(caplog)


WEEK_PATHS = [
    "/api/cohorts/{cohort}/attendance/",
    "/api/cohorts/{cohort}/attendance/chart/",
    "/api/me/attendance/",
]
BILLING = "/api/cohorts/{cohort}/billing-days/"


@pytest.mark.parametrize(
    ("path", "param", "value"),
    [
        *[(path, "week", w) for path in WEEK_PATHS for w in ("9999-W52", "0001-W01", "2026-W54")],
        (BILLING, "from", "0001-01-01"),
        (BILLING, "to", "9999-12-31"),
        (BILLING, "from", "10000-01-01"),
    ],
)
def test_a_week_or_day_at_the_calendars_edge_is_a_field_error(
    cast: Any, client_for: Any, path: str, param: str, value: str
):
    who = cast.patient if path.startswith("/api/me/") else cast.clinician
    response = client_for(who).get(path.format(cohort=cast.cohort.pk), {param: value})
    assert response.status_code == 400, (path, param, value, response.status_code)
    assert response.json()["code"] == "invalid"
    assert param in response.json()["fields"]


def test_extreme_body_values_are_never_a_server_error(
    schema: dict[str, Any], cast: Any, client_for: Any, live_session: Any, caplog: Any
):
    components = schema["components"]["schemas"]
    failures = []
    for path, method, op in _operations(schema, {"post", "put", "patch"}):
        content = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        ref = content.get("schema", {}).get("$ref", "")
        fields = components[ref.rsplit("/", 1)[-1]].get("properties", {}) if ref else {}
        url = _url(path, cast, live_session)
        for role in ("admin", "clinician", "facilitator", "patient"):
            client = client_for(getattr(cast, role))
            for value in BODY_VALUES:
                response = getattr(client, method)(url, dict.fromkeys(fields, value), format="json")
                if response.status_code >= 500:
                    failures.append((role, method, url, value, response.status_code))
    assert not failures
    assert not _no_errors_logged(caplog)


HOSTILE_BODIES = {
    "nested 5,000 deep": ("[" * 5000 + "]" * 5000, "parse_error"),
    "objects nested 3,000 deep": ('{"a":' * 3000 + "1" + "}" * 3000, "parse_error"),
    "nested just past the limit": (
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        "parse_error",
    ),
    "a lone surrogate": (
        '{"text": "\\ud800", "reason": "\\udfff", "kind": "progress"}',
        "parse_error",
    ),
    "a lone surrogate as a key": ('{"\\ud800": 1}', "parse_error"),
    "not UTF-8": (b'{"text": "\xff\xfe"}', "parse_error"),
}


@pytest.mark.parametrize("name", HOSTILE_BODIES)
def test_hostile_json_bodies_get_a_4xx_on_every_write(
    schema: dict[str, Any], cast: Any, client_for: Any, live_session: Any, caplog: Any, name: str
):
    body, code = HOSTILE_BODIES[name]
    before = AuditEvent.objects.count()
    failures = []
    for role in ("admin", "clinician", "patient"):
        client = client_for(getattr(cast, role))
        for path, method, op in _operations(schema, {"post", "put", "patch"}):
            if "requestBody" not in op:
                continue  # reads no body (a ticket, a sign-off): nothing to refuse
            url = _url(path, cast, live_session)
            response = getattr(client, method)(url, body, content_type="application/json")
            if not 400 <= response.status_code < 500 or not _standard_error(response):
                failures.append((role, method, url, response.status_code))
            elif response.status_code == 400 and code not in (None, response.json()["code"]):
                failures.append((role, method, url, response.json()["code"]))
    assert not failures
    assert not _no_errors_logged(caplog)
    # Refused before anything was read or written: the only events are audited denials.
    assert not AuditEvent.objects.filter(pk__gt=before).exclude(outcome="denied").exists()


def test_a_lone_surrogate_is_a_parse_error_not_a_stored_value(cast: Any, client_for: Any):
    response = client_for(cast.clinician).post(
        "/api/notes/",
        '{"kind": "progress", "patient": ' + str(cast.patient.pk) + ', "text": "a\\ud800b"}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "parse_error",
        "detail": "JSON parse error - the body is not valid Unicode text.",
    }


def test_a_3_mb_body_is_413_with_the_standard_body(cast: Any, client_for: Any, settings: Any):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.MAX_REQUEST_BODY_KIB * 1024
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * 1024 * 1024
    body = '{"kind": "progress", "text": "' + "x" * (3 * 1024 * 1024) + '"}'
    for path in ("/api/notes/", "/api/auth/login/", "/api/screening/consents/"):
        response = client_for(cast.clinician).post(path, body, content_type="application/json")
        assert response.status_code == 413, (path, response.status_code)
        assert response.json() == {
            "code": "too_large",
            "detail": "The request body is larger than this server accepts.",
        }
        assert response["Cache-Control"].startswith(("no-store", "max-age=0"))


def test_a_form_with_too_many_fields_is_a_400(cast: Any, client_for: Any, caplog: Any):
    body = "&".join(f"f{n}=1" for n in range(5000))
    response = client_for(cast.clinician).post(
        "/api/notes/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not _no_errors_logged(caplog)


def test_an_id_too_large_for_the_database_finds_nothing_or_is_a_400(
    cast: Any, client_for: Any, caplog: Any
):
    """SQLite cannot bind it (a 400); PostgreSQL compares it and finds no such patient."""
    response = client_for(cast.clinician).get("/api/notes/", {"patient": "9" * 25})
    if response.status_code == 400:
        assert response.json()["code"] == "invalid"
    else:
        assert response.status_code == 200, response.status_code
        assert response.json()["results"] == []
    assert not _no_errors_logged(caplog)


def test_a_body_as_deep_as_the_limit_is_parsed(cast: Any, client_for: Any):
    """The limit refuses nesting, not bodies: one level less reaches the view."""
    inner = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    body = '{"kind": "progress", "patient": ' + str(cast.patient.pk) + ', "x": ' + inner + "}"
    response = client_for(cast.clinician).post("/api/notes/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"  # the serializer's answer, not the parser's
