from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from tests.notes.conftest import create_note, group_note_body, progress_note_body

pytestmark = pytest.mark.django_db

URL = "/api/notes/overdue/"


def overdue_ids(client: Any) -> list[int]:
    response = client.get(URL)
    assert response.status_code == 200
    return [n["id"] for n in response.json()["results"]]


def test_drafts_past_the_limit_are_listed_for_the_cohorts_clinicians(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    draft = create_note(client_for(cast.facilitator), group_note_body(group_session, cast.patient))
    later = timezone.now() + dt.timedelta(hours=72)

    assert overdue_ids(client_for(cast.clinician)) == []
    with time_machine.travel(later, tick=False):
        assert overdue_ids(client_for(cast.clinician)) == [draft["id"]]
        assert overdue_ids(client_for(cast.other_clinician)) == []


def test_signed_notes_are_not_overdue(cast: Any, client_for: Any, group_session: Any) -> None:
    fac = client_for(cast.facilitator)
    note = create_note(fac, group_note_body(group_session, cast.patient))
    fac.post(f"/api/notes/{note['id']}/sign/")

    with time_machine.travel(timezone.now() + dt.timedelta(days=10), tick=False):
        assert overdue_ids(client_for(cast.clinician)) == []


def test_the_limit_is_configurable(cast: Any, client_for: Any, settings: Any) -> None:
    settings.NOTES_OVERDUE_HOURS = 1
    note = create_note(client_for(cast.clinician), progress_note_body(cast.patient))

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=61), tick=False):
        assert overdue_ids(client_for(cast.clinician)) == [note["id"]]


def test_a_colleagues_psychotherapy_draft_is_not_listed(
    cast: Any, client_for: Any, settings: Any
) -> None:
    from tests.factories import CareTeamFactory, UserFactory

    settings.NOTES_OVERDUE_HOURS = 1
    colleague = UserFactory(role="clinician")
    CareTeamFactory(cohort=cast.cohort, user=colleague, role="clinician")
    therapy = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}
    note = create_note(client_for(cast.clinician), therapy)

    with time_machine.travel(timezone.now() + dt.timedelta(hours=2), tick=False):
        assert overdue_ids(client_for(colleague)) == []
        assert overdue_ids(client_for(cast.clinician)) == [note["id"]]


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "auditor"])
def test_only_clinicians_see_overdue_notes(cast: Any, client_for: Any, role: str) -> None:
    assert client_for(getattr(cast, role)).get(URL).status_code == 403
