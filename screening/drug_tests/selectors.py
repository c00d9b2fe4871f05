"""Drug tests and results: the door ``drug_test_for_user``, the lists, documented
medications, and each version's interpreted state (see ``screening.common`` for the rules)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from screening.common import (
    READS,
    allowed_after_discharge,
    clinician_patient_ids,
    existing_patient,
    is_clinician_of_patient,
    patient_for_user,
    storable_id,
)
from screening.models import (
    AnalyteResult,
    DocumentedMedication,
    DrugTest,
    TestStatus,
    TestVersion,
    ValidityCheck,
)
from screening.outcomes import ResultLine, overall_outcome, validity_flags
from vioip.accounts.models import Role, User
from vioip.core.errors import NotVisible


def medications_for_user(*, user: User, patient_id: Any) -> QuerySet[DocumentedMedication]:
    """A patient's documented medications, for a clinician of their care team."""
    patient = patient_for_user(
        user=user, patient_id=patient_id, attempted="read", object_type="documented_medication"
    )
    return DocumentedMedication.objects.filter(patient=patient)


TEST_DETAILS = (
    Prefetch("results", queryset=AnalyteResult.objects.order_by("version", "analyte", "method")),
    Prefetch("validity_checks", queryset=ValidityCheck.objects.order_by("version")),
    Prefetch(
        "versions",
        queryset=TestVersion.objects.select_related("reviewed_by").order_by("number"),
    ),
)


def with_details(qs: QuerySet[DrugTest]) -> QuerySet[DrugTest]:
    return qs.select_related("patient", "cohort").prefetch_related(*TEST_DETAILS)


def _announced(qs: QuerySet[DrugTest]) -> QuerySet[DrugTest]:
    # A random selection is unannounced: the patient learns of an order only on its day.
    return qs.exclude(status=TestStatus.ORDERED, due_from__gt=timezone.now())


def drug_test_for_user(
    *, user: User, drug_test_id: Any, attempted: str = "read", for_update: bool = False
) -> DrugTest:
    """The test, if ``user`` may do ``attempted`` with it: a clinician of the patient's
    care team (relationship as ``attempted`` needs), or the patient reading their own
    announced test. With ``for_update`` the row is locked (a write's transaction), and
    comes without its details. NotVisible otherwise."""
    allowed_after_discharge(attempted)
    qs = DrugTest.objects.filter(pk=drug_test_id)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    test = qs.first() if storable_id(drug_test_id) else None
    if test is not None:
        if user.role == Role.PATIENT:
            unannounced = (
                test.status == TestStatus.ORDERED
                and test.due_from is not None
                and test.due_from > timezone.now()
            )
            allowed = attempted in READS and test.patient_id == user.pk and not unannounced
        else:
            allowed = is_clinician_of_patient(
                user=user, patient_id=test.patient_id, attempted=attempted
            )
        if allowed:
            if not for_update:
                test = with_details(DrugTest.objects.filter(pk=test.pk)).get()
            return test
    raise NotVisible(
        object_type="drug_test",
        object_id=drug_test_id,
        patient=test.patient_id if test is not None else None,
        attempted=attempted,
    )


def drug_tests_for_user(*, user: User, patient_id: Any = None) -> QuerySet[DrugTest]:
    """The tests ``user`` may list (optionally one patient's): a clinician's patients in
    care, a patient's own. Naming a patient the caller may not see is NotVisible; a role
    that lists no tests is refused (403)."""
    if patient_id is not None:
        if user.role == Role.PATIENT and str(patient_id) == str(user.pk):
            qs = _announced(DrugTest.objects.filter(patient_id=user.pk))
        elif is_clinician_of_patient(user=user, patient_id=patient_id, attempted="list"):
            qs = DrugTest.objects.filter(patient_id=patient_id)
        else:
            raise NotVisible(
                object_type="drug_test",
                patient=existing_patient(patient_id),
                attempted="list",
            )
    elif user.role == Role.CLINICIAN:
        qs = DrugTest.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    elif user.role == Role.PATIENT:
        qs = _announced(DrugTest.objects.filter(patient_id=user.pk))
    else:
        raise PermissionDenied
    return with_details(qs)


def medications_by_patient(*, patient_ids: Iterable[Any]) -> dict[Any, list[DocumentedMedication]]:
    """Documented medications of patients whose tests the caller already holds (from a
    door): they interpret the results (an expected positive)."""
    found: dict[Any, list[DocumentedMedication]] = defaultdict(list)
    for med in DocumentedMedication.objects.filter(patient_id__in=list(set(patient_ids))):
        found[med.patient_id].append(med)
    return found


def medications_on(meds: Iterable[DocumentedMedication], day: dt.date | None) -> list[str]:
    if day is None:
        return []
    return [
        m.name for m in meds if m.start_date <= day and (m.end_date is None or m.end_date >= day)
    ]


@dataclass
class VersionState:
    number: int
    results: list[AnalyteResult]
    validity: ValidityCheck | None
    flags: list[str]
    overall: str | None
    review: TestVersion | None


def version_state(
    test: DrugTest, number: int, medications: list[str], now: dt.datetime
) -> VersionState:
    results = [r for r in test.results.all() if r.version == number]
    validity = next((v for v in test.validity_checks.all() if v.version == number), None)
    review = next((v for v in test.versions.all() if v.number == number), None)
    flags = (
        validity_flags(
            creatinine=validity.creatinine,
            specific_gravity=validity.specific_gravity,
            ph=validity.ph,
            nitrite=validity.nitrite,
        )
        if validity
        else []
    )
    overall: str | None
    if test.status == TestStatus.REFUSED:
        overall = "refused"
    elif test.status == TestStatus.ORDERED:
        overall = "no_show" if test.due_by and now > test.due_by else None
    else:
        overall = overall_outcome(
            results=[ResultLine(r.analyte, r.result, r.method) for r in results],
            flags=flags,
            medications=medications,
        )
    return VersionState(number, results, validity, flags, overall, review)


def test_states(
    test: DrugTest, medications: list[DocumentedMedication], now: dt.datetime | None = None
) -> list[VersionState]:
    """Every version's state, oldest first; the last is current."""
    now = now or timezone.now()
    day = timezone.localdate(test.collected_at) if test.collected_at else None
    names = medications_on(medications, day)
    return [version_state(test, n, names, now) for n in range(1, test.version + 1)]
