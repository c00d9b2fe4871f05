"""Screening query parameters are parsed one way (django-filter): a bad value is a 400
whose fields name the parameter, never ``non_field_errors`` and never a 500. Ids too large
for the database are bad input in a query or a body, and a record that is not there in a
path."""

from __future__ import annotations

from typing import Any

import pytest

from vioip.audit.models import AuditEvent

TOO_LARGE = "99999999999999999999999"

# (path, parameter, who asks, other parameters the path needs)
PARAMETERS = [
    ("/api/screening/tests/", "patient", "clinician", {}),
    ("/api/screening/consents/", "patient", "clinician", {}),
    ("/api/screening/disclosures/", "patient", "clinician", {}),
    ("/api/screening/medications/", "patient", "clinician", {}),
    ("/api/screening/draws/", "cohort", "clinician", {}),
    ("/api/screening/draw-schedule/", "cohort", "facilitator", {}),
    ("/api/screening/compliance/", "cohort", "facilitator", {}),
    ("/api/screening/compliance/", "from", "facilitator", {"cohort": "COHORT"}),
    ("/api/screening/compliance/", "to", "facilitator", {"cohort": "COHORT"}),
]
BAD_IDS = ["abc", "1.5", "0", "-3", TOO_LARGE, "1e400"]
BAD_DAYS = ["2026-02-30", "10000-01-01", "yesterday", "9999-W52"]


def _ask(cast: Any, client_for: Any, path: str, who: str, params: dict[str, str]) -> Any:
    params = {k: str(cast.cohort.pk) if v == "COHORT" else v for k, v in params.items()}
    return client_for(getattr(cast, who)).get(path, params)


@pytest.mark.parametrize(("path", "param", "who", "others"), PARAMETERS)
def test_a_bad_query_value_is_a_field_error_naming_the_parameter(
    cast: Any, client_for: Any, path: str, param: str, who: str, others: dict[str, str]
) -> None:
    before = AuditEvent.objects.count()
    for value in BAD_DAYS if param in ("from", "to") else BAD_IDS:
        response = _ask(cast, client_for, path, who, {**others, param: value})
        assert response.status_code == 400, (path, param, value, response.status_code)
        body = response.json()
        assert body["code"] == "invalid"
        assert list(body["fields"]) == [param], (path, param, value, body)
        assert "non_field_errors" not in body["fields"]
    # Refused before any record was read: nothing audited as read.
    assert not AuditEvent.objects.filter(pk__gt=before, action="read").exists()


@pytest.mark.parametrize(
    ("path", "param", "who"),
    [
        ("/api/screening/medications/", "patient", "clinician"),
        ("/api/screening/draw-schedule/", "cohort", "facilitator"),
        ("/api/screening/compliance/", "cohort", "facilitator"),
    ],
)
def test_a_missing_required_parameter_is_named(
    cast: Any, client_for: Any, path: str, param: str, who: str
) -> None:
    response = client_for(getattr(cast, who)).get(path)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [param]


def test_compliance_reads_its_days_and_cohort(cast: Any, client_for: Any) -> None:
    response = client_for(cast.facilitator).get(
        "/api/screening/compliance/",
        {"cohort": cast.cohort.pk, "from": "0001-01-01", "to": "9999-12-31"},
    )
    assert response.status_code == 200
    assert response.json()["cohort"] == cast.cohort.pk


def test_an_empty_optional_parameter_is_no_filter(cast: Any, client_for: Any) -> None:
    response = client_for(cast.clinician).get("/api/screening/tests/", {"patient": ""})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        (
            "/api/screening/tests/",
            "patient",
            {
                "collected_at": "2026-01-05T10:00:00Z",
                "specimen": "urine",
                "observed": True,
                "reason": "scheduled",
            },
        ),
        ("/api/screening/draws/", "cohort", {"date": "2099-01-01", "rate": "0.5"}),
        ("/api/screening/disclosures/", "consent", {"from": "2026-01-01", "to": "2026-01-31"}),
        (
            "/api/screening/medications/",
            "patient",
            {"name": "buprenorphine", "start_date": "2026-01-01"},
        ),
    ],
)
def test_an_id_too_large_for_the_database_in_a_body_is_a_field_error(
    cast: Any, client_for: Any, path: str, field: str, body: dict[str, Any]
) -> None:
    response = client_for(cast.clinician).post(path, {**body, field: 10**25}, format="json")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


@pytest.mark.parametrize(
    "path",
    [
        "/api/screening/tests/{id}/",
        "/api/screening/tests/{id}/fhir/",
        "/api/screening/consents/{id}/",
        "/api/screening/disclosures/{id}/",
        "/api/screening/draws/{id}/",
    ],
)
def test_an_id_too_large_for_the_database_in_a_path_is_not_found(
    cast: Any, client_for: Any, path: str
) -> None:
    response = client_for(cast.clinician).get(path.format(id=TOO_LARGE))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
