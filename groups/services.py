"""Writes for cohorts, care teams and enrollment.

Callers (the API views) have already checked that the actor may see the cohort and
holds a role allowed to make the change; these services enforce the program's rules
(valid schedule, capacity, roles of the people assigned) and audit every change.
Bad input raises Django's ``ValidationError`` with field errors and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from groups.models import (
    CareTeamMember,
    Cohort,
    Enrollment,
    EnrollmentStatus,
    StaffRole,
)
from groups.selectors import cohort_zone
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict
from vioip.core.revocation import access_changed

# The cohort fields a writer may set; the API serializers list the same fields, in this order.
COHORT_FIELDS = (
    "name",
    "track",
    "modality",
    "timezone",
    "meeting_days",
    "start_time",
    "duration_minutes",
    "capacity",
    "program_weeks",
    "start_date",
    "end_date",
    "status",
    "waiting_room",
    "population",
    "billing_code",
    "weekly_minimum_minutes",
    "daily_minimum_minutes",
)


@functools.cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _validate_cohort(values: dict[str, Any]) -> None:
    """Check the schedule rules on the cohort's values after the change is applied."""
    errors: dict[str, list[str]] = {}
    if values.get("timezone") not in _known_time_zones():
        errors["timezone"] = ["Unknown time zone: use an IANA name such as America/New_York."]
    days = values.get("meeting_days")
    if (
        not isinstance(days, list)
        or not 1 <= len(days) <= 7
        or any(type(d) is not int or not 1 <= d <= 7 for d in days)
    ):
        errors["meeting_days"] = ["Give 1 to 7 ISO weekdays, 1 = Monday ... 7 = Sunday."]
    elif len(set(days)) != len(days):
        errors["meeting_days"] = ["A weekday is repeated."]
    duration = values.get("duration_minutes")
    if duration is None or not 30 <= duration <= 480:
        errors["duration_minutes"] = ["A session lasts 30 to 480 minutes."]
    capacity = values.get("capacity")
    if capacity is None or capacity < 1:
        errors["capacity"] = ["Capacity must be at least 1."]
    weeks = values.get("program_weeks")
    if weeks is None or not 1 <= weeks <= 52:
        errors["program_weeks"] = ["A program lasts 1 to 52 weeks."]
    start, end = values.get("start_date"), values.get("end_date")
    if start and end and end < start:
        errors["end_date"] = ["The end date is before the start date."]
    if errors:
        raise ValidationError(errors)


def _cohort_values(cohort: Cohort) -> dict[str, Any]:
    return {name: getattr(cohort, name) for name in COHORT_FIELDS}


@transaction.atomic
def cohort_create(*, actor: User, **fields: Any) -> Cohort:
    unknown = set(fields) - set(COHORT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown cohort fields: {sorted(unknown)}")
    cohort = Cohort(**fields)
    if cohort.meeting_days is not None and isinstance(cohort.meeting_days, list):
        cohort.meeting_days = sorted(cohort.meeting_days)
    _validate_cohort(_cohort_values(cohort))
    cohort.save()
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="cohort",
        object_id=cohort.pk,
    )
    return cohort


@transaction.atomic
def cohort_update(*, actor: User, cohort: Cohort, **fields: Any) -> Cohort:
    unknown = set(fields) - set(COHORT_FIELDS)
    if unknown:
        raise TypeError(f"Unknown cohort fields: {sorted(unknown)}")
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    values = _cohort_values(cohort) | fields
    _validate_cohort(values)
    if "capacity" in fields:
        active = cohort.enrollments.filter(status=EnrollmentStatus.ACTIVE).count()
        if fields["capacity"] < active:
            raise ValidationError(
                {"capacity": [f"{active} patients are enrolled; capacity cannot be lower."]}
            )
    if "meeting_days" in fields:
        fields["meeting_days"] = sorted(fields["meeting_days"])
    changed = [name for name, value in fields.items() if getattr(cohort, name) != value]
    for name in changed:
        setattr(cohort, name, fields[name])
    if changed:
        cohort.save(update_fields=[*changed, "updated_at"])
        audit.record(
            action=Action.UPDATE,
            actor=actor,
            object_type="cohort",
            object_id=cohort.pk,
            detail={"fields": sorted(changed)},
        )
    return cohort


@transaction.atomic
def care_team_assign(*, actor: User, cohort: Cohort, user: User, role: str) -> CareTeamMember:
    """Assign a facilitator or clinician. The user must hold the role they are assigned as."""
    if user.role not in (Role.FACILITATOR, Role.CLINICIAN) or not user.is_active:
        raise ValidationError(
            {"user": ["Only active facilitators and clinicians join a care team."]}
        )
    if role not in StaffRole.values:
        raise ValidationError({"role": ["Role must be facilitator or clinician."]})
    if user.role != role:
        raise ValidationError({"role": [f"This user is a {user.role}, not a {role}."]})
    if CareTeamMember.objects.filter(cohort=cohort, user=user).exists():
        raise ValidationError({"user": ["This user is already on the care team."]})
    member = CareTeamMember.objects.create(cohort=cohort, user=user, role=role)
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="care_team_member",
        object_id=member.pk,
        detail={"cohort": cohort.pk, "user": user.pk, "role": role},
    )
    return member


@transaction.atomic
def care_team_unassign(*, actor: User, cohort: Cohort, user_id: int) -> None:
    member = CareTeamMember.objects.filter(cohort=cohort, user_id=user_id).first()
    if member is None:
        raise Http404
    member_id = member.pk
    member.delete()
    access_changed(user_ids=[user_id], reason="care_team_removal")
    audit.record(
        action=Action.DELETE,
        actor=actor,
        object_type="care_team_member",
        object_id=member_id,
        detail={"cohort": cohort.pk, "user": user_id},
    )


def care_team_end_mismatched(*, actor: User, user: User, old_role: str) -> None:
    """After ``user``'s role changed: end every care-team membership whose care-team role
    is no longer theirs, one audited event each. (The access queries already ignore such
    memberships; ending them keeps the care-team lists truthful.)"""
    for member in CareTeamMember.objects.filter(user=user).exclude(role=user.role):
        member_id, cohort_id, role = member.pk, member.cohort_id, member.role
        member.delete()
        audit.record(
            action=Action.DELETE,
            actor=actor,
            object_type="care_team_member",
            object_id=member_id,
            detail={"cohort": cohort_id, "user": user.pk, "role": role, "change": "role"},
        )


@transaction.atomic
def enrollment_create(
    *,
    actor: User,
    cohort: Cohort,
    patient: User,
    start_date: dt.date,
    planned_end_date: dt.date | None = None,
) -> Enrollment:
    """Enroll a patient. The cohort row is locked so two admissions cannot both take the
    last place."""
    cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
    if patient.role != Role.PATIENT or not patient.is_active:
        raise ValidationError({"patient": ["Only active users with the patient role enroll."]})
    if planned_end_date is not None and planned_end_date < start_date:
        raise ValidationError({"planned_end_date": ["The planned end is before the start."]})
    if cohort.status != "active":
        raise ValidationError({"non_field_errors": ["The cohort is archived."]})
    active = Enrollment.objects.filter(cohort=cohort, status=EnrollmentStatus.ACTIVE)
    if active.filter(patient=patient).exists():
        raise ValidationError({"patient": ["The patient is already enrolled in this cohort."]})
    if active.count() >= cohort.capacity:
        raise ValidationError(
            {"non_field_errors": [f"The cohort is full ({cohort.capacity} places taken)."]}
        )
    enrollment = Enrollment.objects.create(
        cohort=cohort, patient=patient, start_date=start_date, planned_end_date=planned_end_date
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="enrollment",
        object_id=enrollment.pk,
        patient=patient,
        detail={"cohort": cohort.pk},
    )
    return enrollment


@transaction.atomic
def enrollment_discharge(
    *,
    actor: User,
    enrollment: Enrollment,
    reason: str,
    discharged_on: dt.date,
    aftercare_level: str,
    aftercare_notes: str = "",
) -> Enrollment:
    enrollment = (
        # The enrollment's row only: the cohort is read for its time zone, not locked.
        Enrollment.objects.select_for_update(of=("self",))
        .select_related("cohort")
        .get(pk=enrollment.pk)
    )
    if enrollment.status != EnrollmentStatus.ACTIVE:
        raise Conflict("The enrollment is already discharged.")
    if discharged_on < enrollment.start_date:
        raise ValidationError({"discharged_on": ["The discharge is before the enrollment start."]})
    today_there = timezone.now().astimezone(cohort_zone(enrollment.cohort)).date()
    if discharged_on > today_there:
        raise ValidationError({"discharged_on": ["A discharge cannot be dated in the future."]})
    enrollment.status = EnrollmentStatus.DISCHARGED
    enrollment.discharged_on = discharged_on
    enrollment.discharge_reason = reason
    enrollment.discharged_by = actor
    enrollment.aftercare_level = aftercare_level
    enrollment.aftercare_notes = aftercare_notes
    enrollment.save(
        update_fields=[
            "status",
            "discharged_on",
            "discharge_reason",
            "discharged_by",
            "aftercare_level",
            "aftercare_notes",
            "updated_at",
        ]
    )
    # The patient's room sockets of this cohort close at once; the care team keeps the
    # documentation window (groups.selectors.patient_ids_in_care_of).
    access_changed(user_ids=[enrollment.patient_id], reason="discharge")
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="enrollment",
        object_id=enrollment.pk,
        patient=enrollment.patient_id,
        detail={
            "change": "discharge",
            "cohort": enrollment.cohort_id,
            "reason": reason,
            "aftercare_level": aftercare_level,
        },
    )
    return enrollment
