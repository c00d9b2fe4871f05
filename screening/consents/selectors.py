"""Part 2 consents: the door ``consent_for_user``, the lists, and a consent's state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone

from groups.models import Cohort, Enrollment, EnrollmentStatus
from screening.common import (
    READS,
    allowed_after_discharge,
    care_enrollments,
    is_clinician_of_patient,
    patient_records,
    storable_id,
)
from screening.models import Consent
from vioip.accounts.models import Role, User
from vioip.core.errors import NotVisible


def consent_for_user(
    *, user: User, consent_id: Any, attempted: str = "read", for_update: bool = False
) -> Consent:
    """The consent, if ``user`` may do ``attempted`` with it: a clinician of the patient's
    care team (relationship as ``attempted`` needs), or the patient reading their own.
    NotVisible otherwise."""
    allowed_after_discharge(attempted)
    qs = Consent.objects.filter(pk=consent_id)
    if for_update:
        qs = qs.select_for_update(of=("self",))
    consent = qs.first() if storable_id(consent_id) else None
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


def consents_for_user(*, user: User, patient_id: Any = None) -> QuerySet[Consent]:
    """The consents ``user`` may list (optionally one patient's)."""
    qs = patient_records(user=user, model=Consent, object_type="consent", patient_id=patient_id)
    return qs.select_related("revocation", "patient")


def discloser_cohort_for(*, user: User, patient_id: Any, cohort_id: Any) -> Cohort | None:
    """The cohort ``cohort_id`` if a consent ``user`` records for the patient may name it
    as the discloser: the patient is actively enrolled in it and ``user`` is a clinician of
    its care team (a care-team role matching their current role). None otherwise, for a
    missing cohort and a forbidden one alike."""
    if not storable_id(cohort_id):
        return None
    enrollment = (
        care_enrollments(user=user, patient_id=patient_id).filter(cohort_id=cohort_id).first()
    )
    return enrollment.cohort if enrollment is not None else None


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
