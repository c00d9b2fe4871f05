"""Disclosures: the door ``disclosure_for_user``, the lists, and what a package may
hold (``DisclosureWindow``, ``disclosable_tests``, ``disclosable_enrollments``) for the
discloser a consent names (``discloser_cohort_ids``, ``is_discloser_staff``)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from groups.models import Enrollment, EnrollmentStatus
from groups.selectors import is_cohort_clinician
from screening.common import (
    COLLECTED_STATUSES,
    is_clinician_of_patient,
    patient_records,
    storable_id,
)
from screening.drug_tests.selectors import with_details
from screening.models import (
    Consent,
    Disclosure,
    DrugTest,
    TestStatus,
)
from vioip.accounts.models import Role, User
from vioip.core.errors import NotVisible

# Why a record was left out of a disclosure package (counts and codes only, never the record).
LEFT_OUT_OTHER_DISCLOSER = "other_discloser"
LEFT_OUT_OUTSIDE_PERIOD = "outside_period"
LEFT_OUT_OUTSIDE_CONSENT_DATES = "outside_consent_dates"
LEFT_OUT_NOT_FINAL = "not_final"


@dataclass(frozen=True)
class DisclosureWindow:
    """What a package may hold: the discloser's cohorts, the period asked, and the dates
    the consent covers (signed on ``consent_from``, expiring after ``consent_to``)."""

    cohort_ids: frozenset[Any]
    period_from: dt.date
    period_to: dt.date
    consent_from: dt.date
    consent_to: dt.date | None

    def reason_left_out(self, *, cohort_id: Any, first: dt.date, last: dt.date) -> str | None:
        """Why a record of ``cohort_id`` spanning ``first``..``last`` stays out, or None."""
        if cohort_id not in self.cohort_ids:
            return LEFT_OUT_OTHER_DISCLOSER
        if last < self.period_from or first > self.period_to:
            return LEFT_OUT_OUTSIDE_PERIOD
        if last < self.consent_from or (self.consent_to is not None and first > self.consent_to):
            return LEFT_OUT_OUTSIDE_CONSENT_DATES
        return None

    @property
    def first_day(self) -> dt.date:
        return max(self.period_from, self.consent_from)

    @property
    def last_day(self) -> dt.date:
        return self.period_to if self.consent_to is None else min(self.period_to, self.consent_to)


def disclosable_tests(
    *, patient_id: Any, window: DisclosureWindow
) -> tuple[list[DrugTest], Counter[str]]:
    """The final results (reviewed, or amended after review) of a patient's tests that
    the window lets be disclosed, and by reason the count of collected tests left out.
    For a package under a consent the caller already holds as its discloser."""
    candidates = with_details(
        DrugTest.objects.filter(
            patient_id=patient_id, status__in=COLLECTED_STATUSES, collected_at__isnull=False
        )
    ).order_by("collected_at", "id")
    included: list[DrugTest] = []
    left_out: Counter[str] = Counter()
    for test in candidates:
        if test.collected_at is None:  # excluded by the query; for the type checker
            continue
        day = timezone.localdate(test.collected_at)
        reason = window.reason_left_out(cohort_id=test.cohort_id, first=day, last=day)
        if reason is None and test.status != TestStatus.REVIEWED:
            # Resulted but not reviewed: an unconfirmed screen never leaves the program.
            reason = LEFT_OUT_NOT_FINAL
        if reason is None:
            included.append(test)
        else:
            left_out[reason] += 1
    return included, left_out


def disclosable_enrollments(
    *, patient_id: Any, window: DisclosureWindow
) -> tuple[list[Enrollment], Counter[str]]:
    """The patient's enrollments in the discloser's cohorts overlapping the window, and by
    reason the count of enrollments left out (another program's, a mental-health cohort's
    among them, never named)."""
    included: list[Enrollment] = []
    left_out: Counter[str] = Counter()
    rows = (
        Enrollment.objects.filter(patient_id=patient_id)
        .select_related("cohort")
        .order_by("start_date", "id")
    )
    for enrollment in rows:
        last = enrollment.discharged_on or dt.date.max
        reason = window.reason_left_out(
            cohort_id=enrollment.cohort_id, first=enrollment.start_date, last=last
        )
        if reason is None:
            included.append(enrollment)
        else:
            left_out[reason] += 1
    return included, left_out


def discloser_cohort_ids(consent: Consent) -> list[Any]:
    """The cohorts whose records are the discloser's, and whose clinicians disclose under
    the consent. Today the one cohort the consent names (``Consent.discloser_cohort``, a
    reference: a rename changes nothing, and two cohorts of one name are never confused).
    A list, because a program above cohorts would answer several. A consent whose discloser
    was never resolved (an older row the migration could not match) answers []: the
    caller refuses, so it permits no disclosure."""
    return [] if consent.discloser_cohort_id is None else [consent.discloser_cohort_id]


def is_discloser_staff(*, user: User, consent: Consent, cohort_ids: Iterable[Any]) -> bool:
    """Whether ``user`` discloses for the discloser: a clinician (role matching, now) of one
    of its cohorts in which the patient is actively enrolled."""
    if user.role != Role.CLINICIAN:
        return False
    cohorts = [c for c in cohort_ids if is_cohort_clinician(user=user, cohort_id=c)]
    return Enrollment.objects.filter(
        patient_id=consent.patient_id, cohort_id__in=cohorts, status=EnrollmentStatus.ACTIVE
    ).exists()


def disclosure_for_user(*, user: User, disclosure_id: Any) -> Disclosure:
    """The disclosure, if ``user`` is a clinician of the patient's care team (active or
    inside the documentation window) or the patient it is about; NotVisible otherwise."""
    disclosure = (
        Disclosure.objects.filter(pk=disclosure_id).select_related("disclosed_by").first()
        if storable_id(disclosure_id)
        else None
    )
    if disclosure is not None:
        if user.role == Role.PATIENT:
            allowed = disclosure.patient_id == user.pk
        else:
            allowed = is_clinician_of_patient(user=user, patient_id=disclosure.patient_id)
        if allowed:
            return disclosure
    raise NotVisible(
        object_type="disclosure",
        object_id=disclosure_id,
        patient=disclosure.patient_id if disclosure is not None else None,
    )


def disclosures_for_user(*, user: User, patient_id: Any = None) -> QuerySet[Disclosure]:
    """The disclosures ``user`` may list (optionally one patient's): the accounting of
    disclosures for the patient, the care team's record for its clinicians."""
    qs = patient_records(
        user=user, model=Disclosure, object_type="disclosure", patient_id=patient_id
    )
    return qs.select_related("disclosed_by")
