"""Reads of scheduled sessions, limited to what the caller may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from groups.selectors import active_patient_cohort_ids, staff_cohort_ids
from sessions_app.models import PATIENT_KINDS, Session
from vioip.accounts.models import Role


def sessions_visible_to(*, user: Any) -> QuerySet[Session]:
    """Admins: all. Staff: sessions of their cohorts. Patients: their active cohorts'
    group sessions and workshops, and their own individual/family sessions."""
    qs = Session.objects.select_related("cohort")
    if user.role == Role.ADMIN:
        return qs
    if user.role in (Role.FACILITATOR, Role.CLINICIAN):
        return qs.filter(cohort_id__in=staff_cohort_ids(user=user))
    if user.role == Role.PATIENT:
        in_cohort = Q(cohort_id__in=active_patient_cohort_ids(user=user))
        return qs.filter(in_cohort).filter(~Q(kind__in=PATIENT_KINDS) | Q(patient_id=user.pk))
    return qs.none()


def session_get_for_user(*, user: Any, session_id: Any) -> Session:
    session = sessions_visible_to(user=user).filter(pk=session_id).first()
    if session is None:
        raise Http404
    return session


def my_sessions(*, user: Any) -> QuerySet[Session]:
    """The caller's own schedule: a patient's cohorts' group sessions and their own
    individual/family sessions; a staff member's assigned cohorts' sessions. Admins and
    auditors take part in no session."""
    if user.role in (Role.PATIENT, Role.FACILITATOR, Role.CLINICIAN):
        return sessions_visible_to(user=user)
    return Session.objects.none()
