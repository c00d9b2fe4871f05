"""Reads of cohorts, care teams and enrollments, limited to what the caller may see.

Access is by relation, never by role alone: staff see the cohorts they are assigned to
(with a care-team role matching their current role), patients the cohorts they are
actively enrolled in, admins every cohort, auditors none. Relationships are made by admins
only (groups.permissions); nobody grants themselves a patient. docs/security.md has the
whole model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from groups.models import CareTeamMember, Cohort, Enrollment, EnrollmentStatus, StaffRole
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action


def cohort_zone(cohort: Cohort) -> ZoneInfo:
    """The cohort's time zone: schedules, days and weeks are the cohort's local ones."""
    return ZoneInfo(cohort.timezone)


class UserRef:
    """Stands for a user known by ``pk`` only (an id, or the outer row's ``OuterRef``), so
    the definitions below build queries compiled once (vioip.core.prepared) and
    correlated subqueries."""

    def __init__(self, pk: Any) -> None:
        self.pk = pk


def _memberships_granting(*, user: User | Any) -> QuerySet[CareTeamMember]:
    """Care-team memberships of ``user`` that grant access right now: the user is active
    and the membership's care-team role is the user's current role (read from the
    database, not from a possibly stale ``user`` object). A demoted clinician's clinician
    memberships grant nothing from the moment the role changes."""
    return CareTeamMember.objects.filter(
        user_id=user.pk, user__is_active=True, role=F("user__role")
    )


def staff_cohort_ids(*, user: User | Any, roles: Iterable[str] | None = None) -> QuerySet[Any]:
    """Ids of the cohorts ``user`` is on the care team of (optionally with given roles)."""
    qs = _memberships_granting(user=user)
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs.values_list("cohort_id", flat=True)


def active_patient_cohort_ids(*, user: User | Any) -> QuerySet[Any]:
    return Enrollment.objects.filter(
        patient_id=user.pk,
        patient__is_active=True,
        patient__role=Role.PATIENT,
        status=EnrollmentStatus.ACTIVE,
    ).values_list("cohort_id", flat=True)


def documentation_window_start() -> dt.date:
    """The earliest discharge date whose care team still has documentation access."""
    return timezone.localdate() - dt.timedelta(days=settings.POST_DISCHARGE_DAYS)


def _in_relationship(*, documentation: bool) -> Q:
    """Enrollments that grant their care team access: active ones, and with
    ``documentation`` those discharged within the documentation window (read and sign:
    notes can be finished; nothing new is ordered, recorded or disclosed)."""
    q = Q(status=EnrollmentStatus.ACTIVE)
    if documentation:
        q |= Q(
            status=EnrollmentStatus.DISCHARGED,
            discharged_on__gte=documentation_window_start(),
        )
    return q


def cohorts_visible_to(*, user: User | Any) -> QuerySet[Cohort]:
    if user.role == Role.ADMIN:
        return Cohort.objects.all()
    if user.role in (Role.FACILITATOR, Role.CLINICIAN):
        return Cohort.objects.filter(id__in=staff_cohort_ids(user=user))
    if user.role == Role.PATIENT:
        return Cohort.objects.filter(id__in=active_patient_cohort_ids(user=user))
    return Cohort.objects.none()


def cohort_get_for_user(*, user: User | Any, cohort_id: Any) -> Cohort:
    """The cohort if ``user`` may see it; Http404 for missing and forbidden alike."""
    cohort = cohorts_visible_to(user=user).filter(pk=cohort_id).first()
    if cohort is None:
        raise Http404
    return cohort


def is_cohort_staff(
    *, user: User | Any, cohort_id: Any, roles: Iterable[str] | None = None
) -> bool:
    """Whether ``user`` is on the cohort's care team now, with a care-team role matching
    their current role (and one of ``roles`` when given)."""
    if user.role not in (Role.FACILITATOR, Role.CLINICIAN):
        return False
    qs = _memberships_granting(user=user).filter(cohort_id=cohort_id)
    if roles is not None:
        qs = qs.filter(role__in=list(roles))
    return qs.exists()


def is_cohort_clinician(*, user: User | Any, cohort_id: Any) -> bool:
    return is_cohort_staff(user=user, cohort_id=cohort_id, roles=[StaffRole.CLINICIAN])


def is_active_patient(*, user: User | Any, cohort_id: Any) -> bool:
    return (
        user.role == Role.PATIENT
        and active_patient_cohort_ids(user=user).filter(cohort_id=cohort_id).exists()
    )


def patient_ids_in_care_of(
    *,
    user: User | Any,
    roles: Iterable[str] | None = None,
    documentation: bool = True,
) -> QuerySet[Any]:
    """Patients in the care of ``user``: an active enrollment in a cohort whose care team
    ``user`` is on (and with ``documentation``, a discharge inside the documentation
    window). The one definition of the care relationship; break-the-glass is the only
    other way to a patient's records."""
    return Enrollment.objects.filter(
        _in_relationship(documentation=documentation),
        cohort_id__in=staff_cohort_ids(user=user, roles=roles),
    ).values_list("patient_id", flat=True)


def is_in_care_of(
    *,
    user: User | Any,
    patient_id: Any,
    roles: Iterable[str] | None = None,
    documentation: bool = True,
) -> bool:
    if user.role not in (Role.FACILITATOR, Role.CLINICIAN):
        return False
    return (
        patient_ids_in_care_of(user=user, roles=roles, documentation=documentation)
        .filter(patient_id=patient_id)
        .exists()
    )


def patient_cohort_ids(*, patient_id: Any) -> QuerySet[Any]:
    """Cohorts a patient has ever been enrolled in."""
    return Enrollment.objects.filter(patient_id=patient_id).values_list("cohort_id", flat=True)


def patients_of_cohort(*, cohort_id: Any, active_only: bool = True) -> QuerySet[User]:
    enrollments = Enrollment.objects.filter(cohort_id=cohort_id)
    if active_only:
        enrollments = enrollments.filter(status=EnrollmentStatus.ACTIVE)
    return User.objects.filter(id__in=enrollments.values_list("patient_id", flat=True))


def cohorts_with_counts_visible_to(*, user: Any) -> QuerySet[Cohort]:
    """Visible cohorts with their active enrollment count, in one query."""
    # Meta.ordering is not applied to aggregate queries: order explicitly.
    return (
        cohorts_visible_to(user=user)
        .annotate(active_enrollments=Count("enrollments", filter=Q(enrollments__status="active")))
        .order_by("name", "id")
    )


def care_team_of(*, cohort: Cohort) -> QuerySet[CareTeamMember]:
    return CareTeamMember.objects.filter(cohort=cohort).select_related("user")


def roster_of(*, user: Any, cohort: Cohort) -> QuerySet[Enrollment]:
    """The cohort's enrollments as ``user`` may see them: admins every enrollment, the
    care team the active ones and those discharged inside the documentation window, a
    patient only the active members (shown by display name only)."""
    qs = Enrollment.objects.filter(cohort=cohort).select_related("patient")
    if user.role in (Role.FACILITATOR, Role.CLINICIAN):
        # The care team's relationship with a discharged patient ends with the
        # documentation window; admins keep the program's history.
        return qs.filter(_in_relationship(documentation=True))
    if user.role == Role.PATIENT:
        # By name, not by admission date: the order would tell who joined when.
        return qs.filter(status=EnrollmentStatus.ACTIVE).order_by(
            "patient__first_name", "patient__last_name", "id"
        )
    return qs


def roster_audit(*, user: User, cohort: Cohort, enrollments: Iterable[Enrollment]) -> None:
    """Membership of a treatment program is itself protected (42 CFR Part 2): a roster
    read writes one event per patient shown, so the trail answers "who saw that patient N
    is in this program"."""
    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": "cohort_roster",
            "object_id": cohort.pk,
            "patient": patient_id,
        }
        for patient_id in sorted({e.patient_id for e in enrollments})
    )


def enrollment_get(*, cohort: Cohort, enrollment_id: Any) -> Enrollment:
    enrollment = (
        Enrollment.objects.filter(cohort=cohort, pk=enrollment_id).select_related("patient").first()
    )
    if enrollment is None:
        raise Http404
    return enrollment
