"""Writes for scheduled sessions: one-off sessions, schedule generation, changes and
cancellation.

The API views have checked that the actor may see the cohort or session (404 otherwise)
and may schedule for it (403 otherwise). Bad input raises Django's ``ValidationError``
with field errors and changes nothing; a change a session's state no longer allows
raises ``Conflict``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from groups.models import Cohort, CohortStatus, Enrollment, EnrollmentStatus
from sessions_app.models import PATIENT_KINDS, Session, SessionKind, SessionStatus
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict

# Longest one session may last: a full IOP day.
MAX_SESSION = dt.timedelta(hours=12)

DEFAULT_TITLES = {
    SessionKind.GROUP_THERAPY: "Group therapy",
    SessionKind.INDIVIDUAL: "Individual therapy",
    SessionKind.FAMILY: "Family session",
    SessionKind.WORKSHOP: "Workshop",
}


def _check_times(starts_at: dt.datetime, ends_at: dt.datetime) -> None:
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": ["The session ends before it starts."]})
    if ends_at - starts_at > MAX_SESSION:
        raise ValidationError({"ends_at": ["A session lasts at most 12 hours."]})


def _active_patient(*, cohort: Cohort, patient_id: Any) -> User:
    enrollment = (
        Enrollment.objects.filter(
            cohort=cohort, patient_id=patient_id, status=EnrollmentStatus.ACTIVE
        )
        .select_related("patient")
        .first()
    )
    if enrollment is None:
        raise ValidationError({"patient": ["Not an actively enrolled patient of this cohort."]})
    return enrollment.patient


@transaction.atomic
def session_create(
    *,
    actor: User,
    cohort: Cohort,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    title: str = "",
    patient_id: int | None = None,
    waiting_room: bool | None = None,
) -> Session:
    """One session of any kind. Individual and family sessions are for one actively
    enrolled patient of the cohort; group sessions and workshops for nobody in particular."""
    if cohort.status != CohortStatus.ACTIVE:
        raise ValidationError({"cohort": ["The cohort is archived."]})
    _check_times(starts_at, ends_at)
    patient = None
    if kind in PATIENT_KINDS:
        if patient_id is None:
            raise ValidationError({"patient": ["Individual and family sessions need a patient."]})
        patient = _active_patient(cohort=cohort, patient_id=patient_id)
    elif patient_id is not None:
        raise ValidationError({"patient": ["Group sessions and workshops have no patient."]})
    session = Session.objects.create(
        cohort=cohort,
        kind=kind,
        title=title or DEFAULT_TITLES[SessionKind(kind)],
        starts_at=starts_at,
        ends_at=ends_at,
        patient=patient,
        waiting_room=cohort.waiting_room if waiting_room is None else waiting_room,
        created_by=actor,
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="session",
        object_id=session.pk,
        patient=patient,
        detail={"cohort": cohort.pk, "kind": kind},
    )
    return session


UPDATABLE = frozenset({"title", "starts_at", "ends_at", "waiting_room"})


@transaction.atomic
def session_update(*, actor: User, session: Session, **fields: Any) -> Session:
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise TypeError(f"Fields that cannot be changed: {sorted(unknown)}")
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.status in (SessionStatus.ENDED, SessionStatus.CANCELLED):
        raise Conflict(f"The session is {session.status}; it can no longer be changed.")
    moved = fields.get("starts_at", session.starts_at) != session.starts_at
    if session.status == SessionStatus.LIVE and moved:
        raise Conflict("The session is live; its start can no longer be moved.")
    _check_times(fields.get("starts_at", session.starts_at), fields.get("ends_at", session.ends_at))
    changed = [name for name, value in fields.items() if getattr(session, name) != value]
    for name in changed:
        setattr(session, name, fields[name])
    if changed:
        session.save(update_fields=[*changed, "updated_at"])
        audit.record(
            action=Action.UPDATE,
            actor=actor,
            object_type="session",
            object_id=session.pk,
            patient=session.patient_id,
            detail={"fields": sorted(changed)},
        )
    return session


@transaction.atomic
def session_cancel(*, actor: User, session: Session, reason: str) -> Session:
    session = Session.objects.select_for_update().get(pk=session.pk)
    if session.status != SessionStatus.SCHEDULED:
        raise Conflict(f"The session is {session.status}; only scheduled sessions are cancelled.")
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = reason
    session.cancelled_at = timezone.now()
    session.cancelled_by = actor
    session.save(
        update_fields=["status", "cancel_reason", "cancelled_at", "cancelled_by", "updated_at"]
    )
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="session",
        object_id=session.pk,
        patient=session.patient_id,
        detail={"change": "cancel"},
    )
    return session


def schedule_slots(*, cohort: Cohort, date_from: dt.date, date_to: dt.date) -> list[dt.datetime]:
    """UTC start of each meeting in [date_from, date_to] (inclusive, cohort-local dates).

    The wall-clock start time is kept in the cohort's zone, so the UTC time shifts across
    daylight-saving changes. A start that falls in a spring-forward gap is read with the
    offset before the change (02:30 becomes 03:30 local).
    """
    zone = zoneinfo.ZoneInfo(cohort.timezone)
    first = max(date_from, cohort.start_date)
    last = min(date_to, cohort.end_date) if cohort.end_date else date_to
    days = set(cohort.meeting_days)
    slots = []
    day = first
    while day <= last:
        if day.isoweekday() in days:
            local = dt.datetime.combine(day, cohort.start_time, tzinfo=zone)
            slots.append(local.astimezone(dt.UTC))
        day += dt.timedelta(days=1)
    return slots


def _one_year_after(day: dt.date) -> dt.date:
    """The same date a year later (29 February gives 1 March)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return dt.date(day.year + 1, 3, 1)


@transaction.atomic
def schedule_generate(
    *,
    actor: User,
    cohort: Cohort,
    date_from: dt.date,
    date_to: dt.date,
) -> list[Session]:
    """Create the cohort's group sessions on its meeting days between two dates.

    At most a year at a time, so a typo cannot create thousands of sessions.
    Idempotent: a slot that already has a generated session (even a cancelled or moved
    one) is skipped, so running it twice creates nothing new. Answers what it created.
    """
    if date_to < date_from:
        raise ValidationError({"to": ["The end of the range is before its start."]})
    if date_to >= _one_year_after(date_from):
        raise ValidationError({"to": ["Generate at most one year at a time."]})
    # The lock serialises concurrent generations of one cohort.
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if cohort.status != CohortStatus.ACTIVE:
        raise ValidationError({"non_field_errors": ["The cohort is archived."]})
    slots = schedule_slots(cohort=cohort, date_from=date_from, date_to=date_to)
    if not slots:
        return []
    taken = set(
        Session.objects.filter(
            cohort=cohort,
            generated=True,
            generated_slot__gte=slots[0],
            generated_slot__lte=slots[-1],
        ).values_list("generated_slot", flat=True)
    )
    duration = dt.timedelta(minutes=cohort.duration_minutes)
    new = [
        Session(
            cohort=cohort,
            kind=SessionKind.GROUP_THERAPY,
            title=DEFAULT_TITLES[SessionKind.GROUP_THERAPY],
            starts_at=slot,
            ends_at=slot + duration,
            generated_slot=slot,
            waiting_room=cohort.waiting_room,
            generated=True,
            created_by=actor,
        )
        for slot in slots
        if slot not in taken
    ]
    created = Session.objects.bulk_create(new)
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="session_schedule",
        object_id=cohort.pk,
        detail={
            "cohort": cohort.pk,
            "from": date_from.isoformat(),
            "to": date_to.isoformat(),
            "created": len(created),
        },
    )
    return created
