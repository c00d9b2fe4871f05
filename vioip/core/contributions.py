"""Contributions: how one app offers a small piece of data to another without either
importing the other.

``sessions_app`` and ``screening`` never import each other (DESIGN.md, "Layers"), yet the
discharge summary (attendance) shows screening compliance counts, and a Part 2
disclosure package (screening) holds the patient's attendance. Each such piece is a named
slot here: the app that owns the data registers a provider from its ``AppConfig.ready()``,
and the app that wants it asks the slot, getting ``None`` when nothing is registered (the
other app is not installed) and deciding itself what that means.

Only plain, typed values cross a slot (the dataclasses below): never a model instance,
never a query, so neither side learns the other's models. Providers take ids and dates;
the caller has already checked the reader's access to the patient.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

P = TypeVar("P")


class SlotTaken(RuntimeError):
    """A second, different provider for a slot: two apps claiming one piece of data."""


class Slot(Generic[P]):
    """One named contribution: at most one provider, registered at start-up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._provider: P | None = None

    def register(self, provider: P) -> None:
        # ready() may run twice (tests, reloads): the same provider again is harmless.
        if self._provider is not None and self._provider is not provider:
            raise SlotTaken(f"The contribution {self.name!r} already has a provider.")
        self._provider = provider

    def provider(self) -> P | None:
        """The registered provider, or None when no installed app offers it."""
        return self._provider

    @contextmanager
    def replaced(self, provider: P | None) -> Iterator[None]:
        """Another provider (or none) for the duration: for tests of the caller's side."""
        previous, self._provider = self._provider, provider
        try:
            yield
        finally:
            self._provider = previous

    def __repr__(self) -> str:
        return f"<Slot {self.name} {'registered' if self._provider else 'empty'}>"


# --- Attendance, for screening's disclosure packages ------------------------------------------


@dataclass(frozen=True)
class AttendanceEntry:
    """One expected, no longer upcoming session of a patient: no title, no other patient."""

    date: dt.date
    kind: str
    status: str  # attended, absent, excused, in_progress
    minutes: int


class PatientAttendance(Protocol):
    def __call__(
        self, *, cohort_id: int, patient_id: int, first_day: dt.date, last_day: dt.date
    ) -> list[AttendanceEntry]:
        """The patient's sessions in the cohort from ``first_day`` to ``last_day`` (the
        cohort's local dates, inclusive) that have started, oldest first."""
        ...


patient_attendance: Slot[PatientAttendance] = Slot("patient_attendance")


# --- Screening compliance, for attendance's discharge summary ----------------------------------


@dataclass(frozen=True)
class ScreeningCompliance:
    """Tests due, taken and missed: counts only, never a result."""

    due: int
    taken: int
    missed: int


class ScreeningComplianceCounts(Protocol):
    def __call__(
        self, *, patient_id: int, cohort_id: int, start: dt.date | None, end: dt.date | None
    ) -> ScreeningCompliance:
        """The patient's compliance in the cohort, orders and collections bounded by the
        dates when given."""
        ...


screening_compliance: Slot[ScreeningComplianceCounts] = Slot("screening_compliance")
