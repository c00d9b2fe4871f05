"""Fixtures for the clinical-notes tests, on top of the shared cast.

``group_session`` is a group session of ``cast.cohort`` that ended an hour ago; ``cast.patient``
was enrolled then, ``cast.other_patient`` was not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import SessionFactory
from vioip.audit.models import AuditEvent

SOAP = {
    "subjective": "Reports cravings twice this week.",
    "objective": "Calm, engaged, on time.",
    "assessment": "Early remission, improving coping.",
    "plan": "Continue group; practise urge surfing.",
}


@pytest.fixture
def group_session(cast: Any) -> Any:
    starts = timezone.now() - dt.timedelta(hours=4)
    return SessionFactory(
        cohort=cast.cohort, starts_at=starts, ends_at=starts + dt.timedelta(hours=3)
    )


def group_note_body(session: Any, patient: Any, **entry: Any) -> dict[str, Any]:
    return {
        "kind": "group",
        "session": session.pk,
        "shared": {
            "topic": "Relapse prevention: high-risk situations",
            "interventions": "CBT skills practice, role play",
            "themes": "Holiday stress, family conflict",
        },
        "entries": [
            {
                "patient": patient.pk,
                "participation": "Active, shared two examples",
                "progress": "Named three triggers toward goal 2",
                "mood": "Euthymic, full affect",
                "risk": "none",
                **entry,
            }
        ],
    }


def progress_note_body(patient: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "progress", "patient": patient.pk, "format": "SOAP", "sections": SOAP, **extra}


def create_note(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/notes/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def audit_events(**filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(**filters).order_by("seq"))
