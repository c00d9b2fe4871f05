"""Attendance writes: clinicians' adjustments, patients' planned absences, make-up
sessions. Callers have already checked that the actor may act on the session's cohort;
these functions check the domain rules and audit what they change."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups.models import Enrollment, EnrollmentStatus
from groups.selectors import cohort_zone
from sessions_app.attendance.models import (
    MAX_ADJUSTMENT_MINUTES,
    AttendanceAdjustment,
    PlannedAbsence,
)
from sessions_app.models import PATIENT_KINDS, Session, SessionKind, SessionStatus
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict

MAX_REASON = 2000


def _enrolled_for(*, session: Session, patient_id: int) -> bool:
    day = session.starts_at.astimezone(cohort_zone(session.cohort)).date()
    return any(
        e.start_date <= day and (e.discharged_on is None or day <= e.discharged_on)
        for e in Enrollment.objects.filter(cohort_id=session.cohort_id, patient_id=patient_id)
    )


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["A reason is required."]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [f"At most {MAX_REASON} characters."]})
    return reason


@transaction.atomic
def adjustment_create(
    *,
    actor: User,
    session: Session,
    patient_id: int,
    minutes: int,
    reason: str,
) -> AttendanceAdjustment:
    """Add minutes the room did not measure for a patient expected in ``session``. Only
    for a session that has started; never more than its scheduled length. Audited."""
    reason = _check_reason(reason)
    if session.status == SessionStatus.CANCELLED:
        raise ValidationError({"session": ["The session was cancelled."]})
    if session.starts_at > timezone.now():
        raise ValidationError({"session": ["The session has not started yet."]})
    patient = User.objects.filter(pk=patient_id, role=Role.PATIENT).first()
    expected = session.kind not in PATIENT_KINDS or session.patient_id == patient_id
    if patient is None or not expected or not _enrolled_for(session=session, patient_id=patient_id):
        raise ValidationError({"patient": ["Not a patient expected in this session."]})
    scheduled = int((session.ends_at - session.starts_at).total_seconds() // 60)
    limit = min(scheduled, MAX_ADJUSTMENT_MINUTES)
    if not 1 <= minutes <= limit:
        raise ValidationError({"minutes": [f"From 1 to {limit} minutes."]})
    adjustment = AttendanceAdjustment.objects.create(
        session=session, patient=patient, minutes=minutes, reason=reason, created_by=actor
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="attendance_adjustment",
        object_id=adjustment.pk,
        patient=patient,
        detail={"session": session.pk, "minutes": minutes},
    )
    return adjustment


@transaction.atomic
def absence_create(*, patient: User, session: Session, reason: str) -> PlannedAbsence:
    """A patient tells the program ahead that they will miss ``session`` (one they are
    expected in and that has not started). Audited."""
    reason = _check_reason(reason)
    if session.status == SessionStatus.CANCELLED:
        raise ValidationError({"session": ["The session was cancelled."]})
    if session.starts_at <= timezone.now():
        raise ValidationError({"session": ["Planned absences are for sessions not yet begun."]})
    expected = session.kind not in PATIENT_KINDS or session.patient_id == patient.pk
    if not expected or not _enrolled_for(session=session, patient_id=patient.pk):
        raise ValidationError({"session": ["You are not expected in this session."]})
    try:
        with transaction.atomic():
            absence = PlannedAbsence.objects.create(session=session, patient=patient, reason=reason)
    except IntegrityError:
        raise Conflict("You already told the program you will miss this session.") from None
    audit.record(
        action=Action.CREATE,
        actor=patient,
        object_type="planned_absence",
        object_id=absence.pk,
        patient=patient,
        detail={"session": session.pk},
    )
    return absence


@transaction.atomic
def absence_withdraw(*, patient: User, absence: PlannedAbsence) -> None:
    """The patient will come after all; only before the session starts. Audited."""
    if absence.session.starts_at <= timezone.now():
        raise Conflict("The session has begun; the planned absence stays on record.")
    absence_id = absence.pk
    session_id = absence.session_id
    absence.delete()
    audit.record(
        action=Action.DELETE,
        actor=patient,
        object_type="planned_absence",
        object_id=absence_id,
        patient=patient,
        detail={"session": session_id},
    )


@transaction.atomic
def makeup_offer(
    *,
    actor: User,
    missed: Session,
    patient_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    title: str = "",
) -> Session:
    """An individual make-up session for a patient expected in ``missed``. It counts
    toward the week it is held in. Audited."""
    if missed.kind in PATIENT_KINDS and missed.patient_id != patient_id:
        raise ValidationError({"patient": ["Not a patient expected in this session."]})
    if not Enrollment.objects.filter(
        cohort_id=missed.cohort_id, patient_id=patient_id, status=EnrollmentStatus.ACTIVE
    ).exists():
        raise ValidationError({"patient": ["Not an active patient of this cohort."]})
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": ["Must be after starts_at."]})
    if ends_at - starts_at > dt.timedelta(hours=8):
        raise ValidationError({"ends_at": ["A session lasts at most 8 hours."]})
    if ends_at <= timezone.now():
        raise ValidationError({"starts_at": ["A make-up session is offered for the future."]})
    session = Session.objects.create(
        cohort_id=missed.cohort_id,
        kind=SessionKind.INDIVIDUAL,
        title=title.strip()[:200] or f"Make-up: {missed.title}"[:200],
        starts_at=starts_at,
        ends_at=ends_at,
        patient_id=patient_id,
        waiting_room=missed.cohort.waiting_room,
        makeup_for=missed,
        created_by=actor,
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="session",
        object_id=session.pk,
        patient=patient_id,
        detail={"makeup_for": missed.pk},
    )
    return session
