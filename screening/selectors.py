"""Screening records: who may see and do what, through one door per record.

Access follows the care relationship (``groups.selectors``, the one definition of it):

- a clinician on the care team of the patient's cohort, with a care-team role matching
  their current role, reads the patient's tests, results, medications, consents and
  disclosures while the enrollment is active and for ``VIOIP_POST_DISCHARGE_DAYS`` after
  discharge (the documentation window); after it, nothing (break-the-glass is for notes);
- the patient reads their own tests and results (not review comments, not an order before
  its day), their consents and the disclosures made about them, at any time (right of
  access);
- facilitators of the cohort see compliance counts only (``screening_compliance_counts``),
  and of a random draw that it exists and, from its day on, who is due
  (``draw_schedule_for_user``); never results, a selection before its day, consents or
  disclosures. A clinician demoted to facilitator has exactly that from the moment the
  role changes;
- admins and auditors: nothing.

What needs which relationship (``attempted``):

- reads and FHIR exports (``read``, ``list``, ``export``): active or inside the window;
- finishing the documentation of a specimen already collected (``results``, ``review``,
  ``amend``) and recording the patient's revocation of a consent (``revoke``): active or
  inside the window. Lab results often arrive after a discharge; recording, reviewing and
  amending them finishes the record of care given during the enrollment. A revocation
  only narrows what may be disclosed, and the patient may revoke at any time
  (42 CFR 2.31(a)(6)): refusing to record it would leave a consent standing that the
  patient has withdrawn;
- anything new (``order``/``create``, ``collect``, ``draw``, ``medication``, ``consent``,
  ``disclose``): an active enrollment only. After discharge nothing is ordered, collected,
  drawn, consented to or disclosed by the former care team.

Disclosing under a consent needs more than the patient's care: the caller must be a
clinician of the discloser the consent names (``discloser_cohort_ids``,
``is_discloser_staff``), and the package holds only what ``DisclosureWindow`` lets through
(``disclosable_tests``, ``disclosable_enrollments``).

Doors: ``drug_test_for_user``, ``consent_for_user``, ``disclosure_for_user``,
``draw_for_user``, ``patient_for_user`` (writes and reads that name a patient),
``draw_cohort_for_user``, ``draw_schedule_for_user`` and ``compliance_cohort_for_user``;
lists go through ``drug_tests_for_user``, ``consents_for_user``, ``disclosures_for_user`` and
``draws_for_user``. Each returns what the caller may see or raises ``NotVisible`` — for
missing and forbidden records alike — which the exception handler answers with the
standard 404 and an audited denial. Nothing else queries these models for a caller.

Audit: a single record read writes one event with its patient; a list page writes one
event per patient on the page (``audit_page``), with record ids only in ``detail``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Max, Prefetch, Q, QuerySet
from django.utils import timezone

from groups.models import Cohort, Enrollment, EnrollmentStatus, StaffRole
from groups.selectors import (
    cohort_zone,
    documentation_window_start,
    is_cohort_clinician,
    is_cohort_staff,
    is_in_care_of,
    patient_ids_in_care_of,
    staff_cohort_ids,
)
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
from vioip.audit.models import Action
from vioip.core import contributions
from vioip.core.errors import NotVisible

CLINICIAN_ROLES = [StaffRole.CLINICIAN]
COLLECTED_STATUSES = [TestStatus.COLLECTED, TestStatus.RESULTED, TestStatus.REVIEWED]

# What a caller attempts, by the relationship it needs (see the module docstring).
READS = frozenset({"read", "list", "export"})
DOCUMENTATION = frozenset({"results", "review", "amend", "revoke"})
NEW = frozenset({"create", "collect", "draw", "medication", "consent", "disclose"})


def _documentation(attempted: str) -> bool:
    """Whether ``attempted`` is allowed inside the documentation window after discharge."""
    if attempted in READS or attempted in DOCUMENTATION:
        return True
    if attempted in NEW:
        return False
    raise ValueError(f"Unknown screening attempt {attempted!r}.")


def is_clinician_of_patient(*, user: User, patient_id: Any, attempted: str = "read") -> bool:
    """Whether ``user`` is a clinician of the patient's care team, with the relationship
    ``attempted`` needs (active, or active or inside the documentation window)."""
    return user.role == Role.CLINICIAN and is_in_care_of(
        user=user,
        patient_id=patient_id,
        roles=CLINICIAN_ROLES,
        documentation=_documentation(attempted),
    )


def clinician_patient_ids(*, user: User, attempted: str = "read") -> QuerySet[Any]:
    return patient_ids_in_care_of(
        user=user, roles=CLINICIAN_ROLES, documentation=_documentation(attempted)
    )


def _existing_patient(patient_id: Any) -> Any:
    """``patient_id`` if it names a patient (an audit event's patient is a foreign key:
    an id nobody has would make the denial's write fail), else None."""
    if patient_id is None:
        return None
    try:
        pk = int(patient_id)
    except (TypeError, ValueError):
        return None
    return pk if User.objects.filter(pk=pk, role=Role.PATIENT).exists() else None


# --- Audit of reads -------------------------------------------------------------------------


def audit_read(
    *,
    user: User,
    object_type: str,
    object_id: Any,
    patient: Any,
    action: str = Action.READ,
    detail: dict[str, Any] | None = None,
) -> None:
    audit.record(
        action=action,
        actor=user,
        object_type=object_type,
        object_id=object_id,
        patient=patient,
        detail=detail,
    )


def audit_page(*, user: User, object_type: str, items: Iterable[tuple[Any, Any]]) -> None:
    """One read event per patient on a page, naming the ids of that patient's records
    read: (object id, patient id) pairs in, identifiers only out."""
    by_patient: dict[Any, list[Any]] = defaultdict(list)
    for object_id, patient_id in items:
        by_patient[patient_id].append(object_id)
    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": object_type,
            "patient": patient_id,
            "detail": {"ids": sorted(set(ids))},
        }
        for patient_id, ids in sorted(by_patient.items())
    )


# --- Patients (writes and reads that name one) -----------------------------------------------


def patient_for_user(*, user: User, patient_id: Any, attempted: str, object_type: str) -> User:
    """The patient, if ``user`` is a clinician of their care team with the relationship
    ``attempted`` needs; NotVisible otherwise (about ``object_type`` records)."""
    if is_clinician_of_patient(user=user, patient_id=patient_id, attempted=attempted):
        patient = User.objects.filter(pk=patient_id, role=Role.PATIENT).first()
        if patient is not None:
            return patient
    raise NotVisible(
        object_type=object_type,
        object_id="",
        patient=_existing_patient(patient_id),
        attempted=attempted,
    )


def care_cohort_for(*, user: User, patient_id: Any) -> Cohort:
    """The cohort a new record is made in: the patient's active enrollment in a cohort
    whose clinician ``user`` is (the caller has passed ``patient_for_user``)."""
    enrollment = (
        Enrollment.objects.filter(
            patient_id=patient_id,
            status=EnrollmentStatus.ACTIVE,
            cohort_id__in=staff_cohort_ids(user=user, roles=CLINICIAN_ROLES),
        )
        .select_related("cohort")
        .order_by("-start_date", "-id")
        .first()
    )
    if enrollment is None:
        raise NotVisible(object_type="patient", object_id="", patient=_existing_patient(patient_id))
    return enrollment.cohort


def medications_for_user(*, user: User, patient_id: Any) -> QuerySet[DocumentedMedication]:
    """A patient's documented medications, for a clinician of their care team."""
    patient = patient_for_user(
        user=user, patient_id=patient_id, attempted="read", object_type="documented_medication"
    )
    return DocumentedMedication.objects.filter(patient=patient)


# --- Drug tests ---------------------------------------------------------------------------

TEST_DETAILS = (
    Prefetch("results", queryset=AnalyteResult.objects.order_by("version", "analyte", "method")),
    Prefetch("validity_checks", queryset=ValidityCheck.objects.order_by("version")),
    Prefetch(
        "versions",
        queryset=TestVersion.objects.select_related("reviewed_by").order_by("number"),
    ),
)


def _with_details(qs: QuerySet[DrugTest]) -> QuerySet[DrugTest]:
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
    _documentation(attempted)
    qs = DrugTest.objects.filter(pk=drug_test_id)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    test = qs.first()
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
                test = _with_details(DrugTest.objects.filter(pk=test.pk)).get()
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
                patient=_existing_patient(patient_id),
                attempted="list",
            )
    elif user.role == Role.CLINICIAN:
        qs = DrugTest.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    elif user.role == Role.PATIENT:
        qs = _announced(DrugTest.objects.filter(patient_id=user.pk))
    else:
        raise PermissionDenied
    return _with_details(qs)


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
    candidates = _with_details(
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
    """The cohorts whose records are the discloser's: today the one cohort the consent
    names (``Consent.discloser`` holds its name, matched among the patient's
    enrollments). A program above cohorts would answer several. An ambiguous or unknown
    name answers the matches as found; the caller refuses anything but exactly one."""
    return sorted(
        set(
            Enrollment.objects.filter(
                patient_id=consent.patient_id, cohort__name=consent.discloser
            ).values_list("cohort_id", flat=True)
        )
    )


def is_discloser_staff(*, user: User, consent: Consent, cohort_ids: Iterable[Any]) -> bool:
    """Whether ``user`` discloses for the discloser: a clinician (role matching, now) of one
    of its cohorts in which the patient is actively enrolled."""
    if user.role != Role.CLINICIAN:
        return False
    cohorts = [c for c in cohort_ids if is_cohort_clinician(user=user, cohort_id=c)]
    return Enrollment.objects.filter(
        patient_id=consent.patient_id, cohort_id__in=cohorts, status=EnrollmentStatus.ACTIVE
    ).exists()


# --- Compliance (no results) -----------------------------------------------------------------


def screening_compliance_counts(
    *,
    patient_id: Any,
    cohort_id: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Tests due, taken and missed for one patient in one cohort, with no result in sight.

    Callable by other reports (attendance, billing) without any access to results; the
    caller has checked access to the patient. ``due`` counts orders whose day has come;
    ``taken`` every collection; ``missed`` orders past their deadline uncollected and
    refusals. Dates bound ``due_by``/``collected_at``.
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


def screening_compliance(
    *, patient_id: int, cohort_id: int, start: dt.date | None, end: dt.date | None
) -> contributions.ScreeningCompliance:
    """This app's contribution ``screening_compliance`` (registered in ``ScreeningConfig``):
    the counts of ``screening_compliance_counts``, nothing else."""
    counts = screening_compliance_counts(
        patient_id=patient_id, cohort_id=cohort_id, start=start, end=end
    )
    return contributions.ScreeningCompliance(
        due=counts["due"], taken=counts["taken"], missed=counts["missed"]
    )


def compliance_cohort_for_user(*, user: User, cohort_id: Any) -> Cohort:
    """The cohort, if ``user`` is on its care team (facilitator or clinician, role
    matching); NotVisible otherwise."""
    if user.role in (Role.FACILITATOR, Role.CLINICIAN) and is_cohort_staff(
        user=user, cohort_id=cohort_id
    ):
        cohort = Cohort.objects.filter(pk=cohort_id).first()
        if cohort is not None:
            return cohort
    raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="screening_compliance")


def compliance_patients(*, cohort: Cohort) -> list[User]:
    """The cohort's patients in its care team's care: active, or discharged inside the
    documentation window."""
    ids = Enrollment.objects.filter(
        Q(status=EnrollmentStatus.ACTIVE)
        | Q(status=EnrollmentStatus.DISCHARGED, discharged_on__gte=documentation_window_start()),
        cohort=cohort,
    ).values_list("patient_id", flat=True)
    return list(User.objects.filter(id__in=ids).order_by("last_name", "first_name", "id"))


# --- Draws -------------------------------------------------------------------------------------


def draw_cohort_for_user(*, user: User, cohort_id: Any) -> Cohort:
    """The cohort a random draw is run in: ``user`` is one of its clinicians now."""
    if user.role == Role.CLINICIAN and is_cohort_clinician(user=user, cohort_id=cohort_id):
        cohort = Cohort.objects.filter(pk=cohort_id).first()
        if cohort is not None:
            return cohort
    raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw")


def draws_for_user(*, user: User, cohort_id: Any = None) -> QuerySet[Draw]:
    """Draws of the cohorts ``user`` is a clinician of (a draw says who was selected for
    testing: a screening record, not a compliance count)."""
    if user.role != Role.CLINICIAN:
        raise PermissionDenied
    qs = Draw.objects.filter(cohort_id__in=staff_cohort_ids(user=user, roles=CLINICIAN_ROLES))
    if cohort_id is not None:
        qs = qs.filter(cohort_id=cohort_id)
    return qs.select_related("drawn_by")


def draw_for_user(*, user: User, draw_id: Any) -> Draw:
    """The draw, if ``user`` is a clinician of its cohort now; NotVisible otherwise."""
    draw = Draw.objects.filter(pk=draw_id).select_related("drawn_by").first()
    if (
        draw is not None
        and user.role == Role.CLINICIAN
        and is_cohort_clinician(user=user, cohort_id=draw.cohort_id)
    ):
        return draw
    raise NotVisible(object_type="screening_draw", object_id=draw_id, attempted="read")


def selected_in_care(*, user: User, draws: Iterable[Draw]) -> dict[Any, list[Any]]:
    """Per draw, the selected patients still in ``user``'s care (active or inside the
    documentation window): who was selected is about each of them, and a patient out of
    the relationship is out of every list."""
    draws = list(draws)
    wanted = {p for d in draws for p in d.selected}
    in_care = (
        set(clinician_patient_ids(user=user).filter(patient_id__in=wanted)) if wanted else set()
    )
    return {d.pk: [p for p in d.selected if p in in_care] for d in draws}


@dataclass
class DrawNotice:
    """What the cohort's staff see of a draw: that it exists, for which day, how many were
    selected, and from that day on who is due. Before the day nobody but the cohort's
    clinicians (``draw_for_user``) sees who was selected: the test is unannounced."""

    draw: Draw
    announced: bool
    due: list[User]


def draw_schedule_for_user(*, user: User, cohort_id: Any) -> tuple[Cohort, list[DrawNotice]]:
    """The cohort's draws as its staff (facilitators and clinicians, role matching) may see
    them; NotVisible for anyone else. The due list holds the selected patients still in
    the care team's care (active, or inside the documentation window)."""
    if not (
        user.role in (Role.FACILITATOR, Role.CLINICIAN)
        and is_cohort_staff(user=user, cohort_id=cohort_id)
    ):
        raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw_schedule")
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None:
        raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw_schedule")
    today = timezone.localtime(timezone.now(), cohort_zone(cohort)).date()
    draws = list(Draw.objects.filter(cohort=cohort).order_by("-date", "-id"))
    announced = {d.pk for d in draws if d.date <= today}
    patients = {p.pk: p for p in compliance_patients(cohort=cohort)} if announced else {}
    return cohort, [
        DrawNotice(
            draw=d,
            announced=d.pk in announced,
            due=[patients[p] for p in d.selected if p in patients] if d.pk in announced else [],
        )
        for d in draws
    ]


# --- Consents and disclosures --------------------------------------------------------------------


def consent_for_user(
    *, user: User, consent_id: Any, attempted: str = "read", for_update: bool = False
) -> Consent:
    """The consent, if ``user`` may do ``attempted`` with it: a clinician of the patient's
    care team (relationship as ``attempted`` needs), or the patient reading their own.
    NotVisible otherwise."""
    _documentation(attempted)
    qs = Consent.objects.filter(pk=consent_id)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    consent = qs.first()
    if consent is not None:
        if user.role == Role.PATIENT:
            allowed = attempted in READS and consent.patient_id == user.pk
        else:
            allowed = is_clinician_of_patient(
                user=user, patient_id=consent.patient_id, attempted=attempted
            )
        if allowed:
            if not for_update:
                consent = (
                    Consent.objects.select_related("revocation", "patient").filter(pk=consent.pk)
                ).get()
            return consent
    raise NotVisible(
        object_type="consent",
        object_id=consent_id,
        patient=consent.patient_id if consent is not None else None,
        attempted=attempted,
    )


def _patient_records(*, user: User, model: Any, object_type: str, patient_id: Any) -> QuerySet[Any]:
    if patient_id is not None:
        if user.role == Role.PATIENT and str(patient_id) == str(user.pk):
            return model.objects.filter(patient_id=user.pk)
        if is_clinician_of_patient(user=user, patient_id=patient_id, attempted="list"):
            return model.objects.filter(patient_id=patient_id)
        raise NotVisible(
            object_type=object_type, patient=_existing_patient(patient_id), attempted="list"
        )
    if user.role == Role.CLINICIAN:
        return model.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    if user.role == Role.PATIENT:
        return model.objects.filter(patient_id=user.pk)
    raise PermissionDenied


def consents_for_user(*, user: User, patient_id: Any = None) -> QuerySet[Consent]:
    """The consents ``user`` may list (optionally one patient's)."""
    qs = _patient_records(user=user, model=Consent, object_type="consent", patient_id=patient_id)
    return qs.select_related("revocation", "patient")


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


def disclosure_for_user(*, user: User, disclosure_id: Any) -> Disclosure:
    """The disclosure, if ``user`` is a clinician of the patient's care team (active or
    inside the documentation window) or the patient it is about; NotVisible otherwise."""
    disclosure = Disclosure.objects.filter(pk=disclosure_id).select_related("disclosed_by").first()
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
    qs = _patient_records(
        user=user, model=Disclosure, object_type="disclosure", patient_id=patient_id
    )
    return qs.select_related("disclosed_by")
