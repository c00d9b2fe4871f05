from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from vioip.audit.models import AuditEvent


@pytest.fixture
def clin(cast: Any, client_for: Callable[..., Any]) -> Any:
    return client_for(cast.clinician)


@pytest.fixture
def new_test(cast: Any, clin: Any) -> Callable[..., dict[str, Any]]:
    """Create a collected test for ``cast.patient`` (or ``patient``) through the API."""

    def make(**overrides: Any) -> dict[str, Any]:
        body = {
            "patient": cast.patient.pk,
            "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
            "specimen": "urine",
            "observed": True,
            "reason": "scheduled",
            "chain_of_custody_id": "CCF-0001",
            **overrides,
        }
        response = clin.post("/api/screening/tests/", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


@pytest.fixture
def resulted_test(clin: Any, new_test: Callable[..., dict[str, Any]]) -> Callable[..., dict]:
    def make(results: list[dict[str, Any]], validity: dict[str, Any] | None = None) -> dict:
        test = new_test()
        body: dict[str, Any] = {"results": results}
        if validity is not None:
            body["validity"] = validity
        response = clin.post(f"/api/screening/tests/{test['id']}/results/", body, format="json")
        assert response.status_code == 200, response.json()
        return response.json()

    return make


NEGATIVE_PANEL = [
    {"analyte": "AMP", "result": "negative"},
    {"analyte": "COC", "result": "negative"},
    {"analyte": "THC", "result": "negative"},
    {"analyte": "OPI", "result": "negative"},
    {"analyte": "FEN", "result": "negative"},
]


def events(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))
