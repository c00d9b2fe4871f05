"""The contribution slots that let attendance and screening share counts without importing
each other (DESIGN.md, "Layers")."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from vioip.core import contributions
from vioip.core.contributions import Slot, SlotTaken

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_slot_answers_none() -> None:
    slot: Slot[object] = Slot("example")
    assert slot.provider() is None


def test_a_slot_keeps_its_provider_and_accepts_the_same_one_again() -> None:
    slot: Slot[object] = Slot("example")

    def provider() -> int:
        return 1

    slot.register(provider)
    slot.register(provider)  # ready() run twice
    assert slot.provider() is provider


def test_a_second_different_provider_is_refused() -> None:
    slot: Slot[object] = Slot("example")
    slot.register(lambda: 1)
    with pytest.raises(SlotTaken):
        slot.register(lambda: 2)


def test_replaced_restores_the_provider_afterwards() -> None:
    slot: Slot[object] = Slot("example")

    def provider() -> int:
        return 1

    slot.register(provider)
    with slot.replaced(None):
        assert slot.provider() is None
    assert slot.provider() is provider


def test_the_installed_apps_register_both_contributions() -> None:
    # Registered by AttendanceConfig.ready() and ScreeningConfig.ready().
    assert contributions.patient_attendance.provider() is not None
    assert contributions.screening_compliance.provider() is not None


@pytest.mark.django_db
def test_providers_answer_plain_typed_values(cast) -> None:
    compliance = contributions.screening_compliance.provider()
    attendance = contributions.patient_attendance.provider()
    assert compliance is not None and attendance is not None
    counts = compliance(patient_id=cast.patient.pk, cohort_id=cast.cohort.pk, start=None, end=None)
    assert counts == contributions.ScreeningCompliance(due=0, taken=0, missed=0)
    today = timezone.localdate()
    entries = attendance(
        cohort_id=cast.cohort.pk, patient_id=cast.patient.pk, first_day=today, last_day=today
    )
    assert isinstance(entries, list)
    assert (
        attendance(
            cohort_id=cast.cohort.pk,
            patient_id=cast.patient.pk,
            first_day=today,
            last_day=today - dt.timedelta(days=1),
        )
        == []
    )


def _imported_modules(package: str) -> set[str]:
    names: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize(
    ("package", "other"), [("screening", "sessions_app"), ("sessions_app", "screening")]
)
def test_screening_and_sessions_never_import_each_other(package: str, other: str) -> None:
    # Not even inside a function: the other's data comes through a contribution.
    imported = _imported_modules(package)
    assert not {m for m in imported if m == other or m.startswith(other + ".")}
