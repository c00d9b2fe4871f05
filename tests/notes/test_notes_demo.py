from __future__ import annotations

from typing import Any

import pytest

from groups.notes import demo
from groups.notes.models import Note
from tests.notes.conftest import past_group_session

pytestmark = pytest.mark.django_db


def test_demo_seeder_adds_signed_and_draft_notes_once(cast: Any) -> None:
    past_group_session(cast.cohort, hours_ago=30, patients=[cast.patient])
    past_group_session(cast.cohort, hours_ago=6, patients=[cast.patient])
    context: dict[str, Any] = {"cohorts": {"sud": cast.cohort, "mh": cast.other_cohort}}

    demo.seed(context)
    count = Note.objects.count()
    demo.seed(context)

    assert Note.objects.count() == count
    kinds = set(Note.objects.values_list("kind", "status"))
    assert {("group", "signed"), ("group", "draft"), ("progress", "signed")} <= kinds
    assert ("progress", "draft") in kinds
    group_signed = Note.objects.get(kind="group", status="signed")
    assert group_signed.cosigned_by == cast.clinician
    assert list(group_signed.entries.values_list("patient_id", flat=True)) == [cast.patient.pk]
    assert Note.objects.filter(cohort=cast.other_cohort, author=cast.other_clinician).exists()
    assert context["notes"]


def test_demo_seeder_without_cohorts_does_nothing(db: Any) -> None:
    demo.seed({})

    assert not Note.objects.exists()
