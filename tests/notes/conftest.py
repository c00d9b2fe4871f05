"""Fixtures for the clinical-notes tests, on top of the shared cast.

``group_session`` is a group session of ``cast.cohort`` that ended an hour ago; ``cast.patient``
was in its room for the whole session (an attendance segment), nobody else was.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from sessions_app.rooms.models import AttendanceSegment
from tests.factories import SessionFactory
from vioip.audit.models import AuditEvent

SOAP = {
    "subjective": "Reports cravings twice this week.",
    "objective": "Calm, engaged, on time.",
    "assessment": "Early remission, improving coping.",
    "plan": "Continue group; practise urge surfing.",
}


def attended(session: Any, patient: Any) -> None:
    """Record that ``patient`` was in ``session``'s room, as the room consumer does."""
    AttendanceSegment.objects.create(
        session=session, user=patient, joined_at=session.starts_at, left_at=session.ends_at
    )


def past_group_session(cohort: Any, *, hours_ago: float = 4, patients: Any = ()) -> Any:
    starts = timezone.now() - dt.timedelta(hours=hours_ago)
    session = SessionFactory(
        cohort=cohort, starts_at=starts, ends_at=starts + dt.timedelta(hours=3)
    )
    for patient in patients:
        attended(session, patient)
    return session


@pytest.fixture
def group_session(cast: Any) -> Any:
    return past_group_session(cast.cohort, patients=[cast.patient])


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
