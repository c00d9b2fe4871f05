"""Hostile request bodies and parameters get a 4xx with the standard error body and change
nothing; never a 500."""

from __future__ import annotations

from vioip.audit.models import AuditEvent


def test_json_nested_thousands_deep_is_a_parse_error(cast, client_for):
    body = "[" * 5000 + "]" * 5000
    before = AuditEvent.objects.count()
    response = client_for(cast.clinician).post("/api/notes/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert "Traceback" not in response.content.decode()
    assert AuditEvent.objects.count() == before


def test_a_body_over_the_upload_limit_is_413(cast, client_for, settings):
    body = (
        '{"kind": "progress", "text": "' + "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    )
    response = client_for(cast.clinician).post("/api/notes/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"


def test_a_week_at_the_edge_of_the_calendar_is_a_field_error(cast, client_for):
    clinician = client_for(cast.clinician)
    for week in ("9999-W52", "0001-W01", "2026-W99"):
        response = clinician.get(f"/api/cohorts/{cast.cohort.pk}/attendance/", {"week": week})
        assert response.status_code == 400, (week, response.content)
        assert "week" in response.json()["fields"]
