"""Reads of screening records, limited to what the caller may see, and audited.

Who sees what:
- clinicians on the care team of a cohort the patient is (or was) enrolled in: everything;
- the patient: their own tests and results (not review comments, not orders before they
  are due), their consents, and the disclosures made about them;
- facilitators: compliance counts only (``screening_compliance_counts``), never results;
- admins and auditors: nothing.

A record the caller may not see is "not found" (Http404) whether it exists or not; a refusal
of an existing record is audited with its patient.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from groups.models import CareTeamMember, Enrollment, EnrollmentStatus, StaffRole
from groups.selectors import is_in_care_of, patient_ids_in_care_of
from screening.models import (
    AnalyteResult,
    Consent,
    Disclosure,
    DocumentedMedication,
    Draw,
    DrugTest,
    TestStatus,
    TestVersion,
    ValidityCheck,
)
from screening.outcomes import ResultLine, overall_outcome, validity_flags
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome

CLINICIAN_ROLES = [StaffRole.CLINICIAN]
COLLECTED_STATUSES = [TestStatus.COLLECTED, TestStatus.RESULTED, TestStatus.REVIEWED]


def is_clinician_of_patient(*, user: Any, patient_id: Any) -> bool:
    return user.role == Role.CLINICIAN and is_in_care_of(
        user=user, patient_id=patient_id, roles=CLINICIAN_ROLES
    )


def clinician_patient_ids(*, user: Any) -> QuerySet[Any]:
    return patient_ids_in_care_of(user=user, roles=CLINICIAN_ROLES)


def audit_denied(
    *, user: Any, object_type: str, object_id: Any, patient: Any, request: HttpRequest | None
) -> None:
    """A refusal. ``patient`` may be an id the caller typed: the event names it only if such
    a patient exists (an event's patient is a foreign key, checked when the write commits)."""
    patient_id = getattr(patient, "pk", patient)
    if (
        patient_id is not None
        and not User.objects.filter(pk=patient_id, role=Role.PATIENT).exists()
    ):
        patient_id = None
    audit.record(
        action=Action.DENIED,
        actor=user,
        outcome=Outcome.DENIED,
        object_type=object_type,
        object_id=object_id,
        patient=patient_id,
        request=request,
    )


def audit_reads(
    *,
    user: Any,
    object_type: str,
    items: Iterable[tuple[Any, Any]],
    request: HttpRequest | None,
) -> None:
    """One read event per (object id, patient) pair, appended together so a page costs
    the same to audit whatever its length."""
    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": object_type,
            "object_id": object_id,
            "patient": patient,
            "request": request,
        }
        for object_id, patient in items
    )


def audit_read(
    *, user: Any, object_type: str, object_id: Any, patient: Any, request: HttpRequest | None
) -> None:
    audit.record(
        action=Action.READ,
        actor=user,
        object_type=object_type,
        object_id=object_id,
        patient=patient,
        request=request,
    )


# --- Drug tests ---------------------------------------------------------------------------


def _with_details(qs: QuerySet[DrugTest]) -> QuerySet[DrugTest]:
    return qs.select_related("patient", "cohort").prefetch_related(
        Prefetch(
            "results", queryset=AnalyteResult.objects.order_by("version", "analyte", "method")
        ),
        Prefetch("validity_checks", queryset=ValidityCheck.objects.order_by("version")),
        Prefetch(
            "versions",
            queryset=TestVersion.objects.select_related("reviewed_by").order_by("number"),
        ),
    )


def tests_visible_to(*, user: Any) -> QuerySet[DrugTest]:
    if user.role == Role.CLINICIAN:
        qs = DrugTest.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    elif user.role == Role.PATIENT:
        # A random selection is unannounced: the patient learns of an order only on its day.
        qs = DrugTest.objects.filter(patient_id=user.pk).exclude(
            status=TestStatus.ORDERED, due_from__gt=timezone.now()
        )
    else:
        return DrugTest.objects.none()
    return _with_details(qs)


def test_get_for_user(
    *, user: Any, test_id: Any, request: HttpRequest | None = None, audit_reads: bool = True
) -> DrugTest:
    """The test if ``user`` may see it (audited read); Http404 otherwise (audited denial)."""
    test = tests_visible_to(user=user).filter(pk=test_id).first()
    if test is None:
        existing = DrugTest.objects.filter(pk=test_id).values_list("patient_id", flat=True).first()
        if existing is not None:
            audit_denied(
                user=user,
                object_type="drug_test",
                object_id=test_id,
                patient=existing,
                request=request,
            )
        raise Http404
    if audit_reads:
        audit_read(
            user=user,
            object_type="drug_test",
            object_id=test.pk,
            patient=test.patient_id,
            request=request,
        )
    return test


def test_get_for_clinician(*, user: Any, test_id: Any, request: HttpRequest | None) -> DrugTest:
    """For writes: only a clinician of the patient's care team. Denials are audited."""
    if user.role != Role.CLINICIAN:
        existing = DrugTest.objects.filter(pk=test_id).values_list("patient_id", flat=True).first()
        if existing is not None:
            audit_denied(
                user=user,
                object_type="drug_test",
                object_id=test_id,
                patient=existing,
                request=request,
            )
        raise Http404
    return test_get_for_user(user=user, test_id=test_id, request=request, audit_reads=False)


def medications_by_patient(*, patient_ids: Iterable[Any]) -> dict[Any, list[DocumentedMedication]]:
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


# --- Compliance (no results) -----------------------------------------------------------------


def screening_compliance_counts(
    *,
    patient_id: Any,
    cohort_id: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Tests due, taken and missed for one patient in one cohort, with no result in sight.

    Callable by other reports (attendance, billing) without any access to results. ``due``
    counts orders whose day has come; ``taken`` every collection; ``missed`` orders past
    their deadline uncollected and refusals. Dates bound ``due_by``/``collected_at``.
    """
    now = timezone.now()
    qs = DrugTest.objects.filter(patient_id=patient_id, cohort_id=cohort_id)
    if start is not None:
        qs = qs.filter(Q(collected_at__date__gte=start) | Q(due_by__date__gte=start))
    if end is not None:
        qs = qs.filter(Q(collected_at__date__lte=end) | Q(due_by__date__lte=end))
    orders = qs.filter(due_by__isnull=False, due_from__lte=now)
    due = orders.count()
    taken = qs.filter(status__in=COLLECTED_STATUSES).count()
    missed = (
        orders.filter(status=TestStatus.ORDERED, due_by__lt=now).count()
        + qs.filter(status=TestStatus.REFUSED).count()
    )
    last = qs.filter(status__in=COLLECTED_STATUSES).aggregate(last=Max("collected_at"))["last"]
    return {"due": due, "taken": taken, "missed": missed, "last_collected_at": last}


def can_see_compliance(*, user: Any, cohort_id: Any) -> bool:
    return (
        user.role in (Role.FACILITATOR, Role.CLINICIAN)
        and CareTeamMember.objects.filter(user_id=user.pk, cohort_id=cohort_id).exists()
    )


def compliance_patients(*, cohort_id: Any) -> list[Any]:
    from vioip.accounts.models import User

    ids = Enrollment.objects.filter(cohort_id=cohort_id).values_list("patient_id", flat=True)
    return list(User.objects.filter(id__in=ids).order_by("last_name", "first_name", "id"))


# --- Draws -------------------------------------------------------------------------------------


def draws_visible_to(*, user: Any) -> QuerySet[Draw]:
    if user.role not in (Role.FACILITATOR, Role.CLINICIAN):
        return Draw.objects.none()
    cohort_ids = CareTeamMember.objects.filter(user_id=user.pk).values_list("cohort_id", flat=True)
    return Draw.objects.filter(cohort_id__in=cohort_ids).select_related("drawn_by")


# --- Consents and disclosures --------------------------------------------------------------------


def consents_visible_to(*, user: Any) -> QuerySet[Consent]:
    if user.role == Role.CLINICIAN:
        qs = Consent.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    elif user.role == Role.PATIENT:
        qs = Consent.objects.filter(patient_id=user.pk)
    else:
        return Consent.objects.none()
    return qs.select_related("revocation", "patient")


def consent_get_for_user(
    *, user: Any, consent_id: Any, request: HttpRequest | None, clinician_only: bool = False
) -> Consent:
    qs = consents_visible_to(user=user)
    if clinician_only and user.role != Role.CLINICIAN:
        qs = Consent.objects.none()
    consent = qs.filter(pk=consent_id).first()
    if consent is None:
        existing = (
            Consent.objects.filter(pk=consent_id).values_list("patient_id", flat=True).first()
        )
        if existing is not None:
            audit_denied(
                user=user,
                object_type="consent",
                object_id=consent_id,
                patient=existing,
                request=request,
            )
        raise Http404
    return consent


def treatment_ended(*, patient_id: Any, on: dt.date) -> bool:
    """Treatment has ended when the patient has no active enrollment and was discharged
    before ``on``."""
    enrollments = Enrollment.objects.filter(patient_id=patient_id)
    if enrollments.filter(status=EnrollmentStatus.ACTIVE).exists():
        return False
    last = enrollments.aggregate(last=Max("discharged_on"))["last"]
    return last is not None and last < on


def consent_state(consent: Consent, *, today: dt.date | None = None) -> str:
    """``revoked``, ``expired`` or ``active``."""
    today = today or timezone.localdate()
    if hasattr(consent, "revocation"):
        return "revoked"
    if consent.expires_on is not None and consent.expires_on < today:
        return "expired"
    if consent.expires_at_end_of_treatment and treatment_ended(
        patient_id=consent.patient_id, on=today
    ):
        return "expired"
    return "active"


def disclosures_visible_to(*, user: Any) -> QuerySet[Disclosure]:
    if user.role == Role.CLINICIAN:
        qs = Disclosure.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    elif user.role == Role.PATIENT:
        qs = Disclosure.objects.filter(patient_id=user.pk)
    else:
        return Disclosure.objects.none()
    return qs.select_related("disclosed_by")
