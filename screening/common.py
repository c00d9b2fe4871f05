"""Screening access shared by every sub-domain: who may see and do what, the care
relationship checks each door builds on, the audit of reads.

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

Doors, one per record, each in its sub-domain's ``selectors``:
``drug_tests``: ``drug_test_for_user`` (lists ``drug_tests_for_user``), medications;
``draws``: ``draw_for_user`` (lists ``draws_for_user``), ``draw_cohort_for_user``,
``draw_schedule_for_user``, ``compliance_cohort_for_user``; ``consents``:
``consent_for_user`` (lists ``consents_for_user``); ``disclosures``: ``disclosure_for_user``
(lists ``disclosures_for_user``); here, ``patient_for_user`` for writes and reads that name
a patient. Each returns what the caller may see or raises ``NotVisible`` — for
missing and forbidden records alike — which the exception handler answers with the
standard 404 and an audited denial. Nothing else queries these models for a caller.

Audit: a single record read writes one event with its patient; a list page writes one
event per patient on the page (``audit_page``), with record ids only in ``detail``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from groups.models import Cohort, Enrollment, EnrollmentStatus, StaffRole
from groups.selectors import (
    is_in_care_of,
    patient_ids_in_care_of,
    staff_cohort_ids,
)
from screening.models import TestStatus
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import NotVisible

CLINICIAN_ROLES = [StaffRole.CLINICIAN]
COLLECTED_STATUSES = [TestStatus.COLLECTED, TestStatus.RESULTED, TestStatus.REVIEWED]

# What a caller attempts, by the relationship it needs (see the module docstring).
READS = frozenset({"read", "list", "export"})
DOCUMENTATION = frozenset({"results", "review", "amend", "revoke"})
NEW = frozenset({"create", "collect", "draw", "medication", "consent", "disclose"})


def allowed_after_discharge(attempted: str) -> bool:
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
        documentation=allowed_after_discharge(attempted),
    )


def clinician_patient_ids(*, user: User, attempted: str = "read") -> QuerySet[Any]:
    return patient_ids_in_care_of(
        user=user, roles=CLINICIAN_ROLES, documentation=allowed_after_discharge(attempted)
    )


# The largest id either database stores (a signed 64-bit key): a larger one in a query or
# a body is bad input named as its field, in a path a record that is not there, never an
# overflow in the database driver.
MAX_ID = 2**63 - 1


def storable_id(value: Any) -> bool:
    """Whether ``value`` is an id the database could hold (a path's id may be any size)."""
    try:
        return 1 <= int(value) <= MAX_ID
    except (TypeError, ValueError):
        return False


def existing_patient(patient_id: Any) -> Any:
    """``patient_id`` if it names a patient (an audit event's patient is a foreign key:
    an id nobody has would make the denial's write fail), else None."""
    if not storable_id(patient_id):
        return None
    pk = int(patient_id)
    return pk if User.objects.filter(pk=pk, role=Role.PATIENT).exists() else None


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


def patient_for_user(*, user: User, patient_id: Any, attempted: str, object_type: str) -> User:
    """The patient, if ``user`` is a clinician of their care team with the relationship
    ``attempted`` needs; NotVisible otherwise (about ``object_type`` records)."""
    if storable_id(patient_id) and is_clinician_of_patient(
        user=user, patient_id=patient_id, attempted=attempted
    ):
        patient = User.objects.filter(pk=patient_id, role=Role.PATIENT).first()
        if patient is not None:
            return patient
    raise NotVisible(
        object_type=object_type,
        object_id="",
        patient=existing_patient(patient_id),
        attempted=attempted,
    )


def care_enrollments(*, user: User, patient_id: Any) -> QuerySet[Enrollment]:
    """The patient's active enrollments in cohorts whose clinician ``user`` is: where new
    records about the patient may be made."""
    return Enrollment.objects.filter(
        patient_id=patient_id,
        status=EnrollmentStatus.ACTIVE,
        cohort_id__in=staff_cohort_ids(user=user, roles=CLINICIAN_ROLES),
    ).select_related("cohort")


def care_cohort_for(*, user: User, patient_id: Any) -> Cohort:
    """The cohort a new record is made in: the patient's latest care enrollment
    (``care_enrollments``; the caller has passed ``patient_for_user``)."""
    enrollment = (
        care_enrollments(user=user, patient_id=patient_id).order_by("-start_date", "-id").first()
    )
    if enrollment is None:
        raise NotVisible(object_type="patient", object_id="", patient=existing_patient(patient_id))
    return enrollment.cohort


def patient_records(*, user: User, model: Any, object_type: str, patient_id: Any) -> QuerySet[Any]:
    if patient_id is not None:
        if user.role == Role.PATIENT and str(patient_id) == str(user.pk):
            return model.objects.filter(patient_id=user.pk)
        if is_clinician_of_patient(user=user, patient_id=patient_id, attempted="list"):
            return model.objects.filter(patient_id=patient_id)
        raise NotVisible(
            object_type=object_type, patient=existing_patient(patient_id), attempted="list"
        )
    if user.role == Role.CLINICIAN:
        return model.objects.filter(patient_id__in=clinician_patient_ids(user=user))
    if user.role == Role.PATIENT:
        return model.objects.filter(patient_id=user.pk)
    raise PermissionDenied


# A collection time a little ahead of the server clock is device skew, not the future.
CLOCK_SKEW = dt.timedelta(minutes=2)
