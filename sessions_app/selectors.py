"""Reads of scheduled sessions, limited to what the caller may see.

The door is ``session_for_user``: the session, or ``NotVisible`` for a missing and a
forbidden one alike. Staff see their cohorts' group sessions and workshops, and the
individual and family sessions of the patients in their care (groups.selectors, the one
definition of the care relationship); patients their active cohorts' group sessions and
their own sessions; admins every session; auditors none.

An individual or family session names its patient, so a read that shows one is audited
against that patient (``sessions_read_audit``); a group session's schedule reveals
nothing about any one patient.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q, QuerySet

from groups.selectors import (
    UserRef,
    active_patient_cohort_ids,
    patient_ids_in_care_of,
    staff_cohort_ids,
)
from sessions_app.models import PATIENT_KINDS, Session
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import NotVisible
from vioip.core.prepared import Prepared


def current_role(user: User) -> str | None:
    """The user's role as the database has it now (None when deactivated): a user object
    held by a long-lived connection may carry a role an admin has since changed."""
    rows = _CURRENT_ROLE.rows(user_id=user.pk)
    return str(rows[0][0]) if rows else None


# Read on every request that lists or opens sessions: compiled once, not per request.
_CURRENT_ROLE = Prepared(
    lambda user_id: User.objects.filter(pk=user_id, is_active=True).values_list("role"),
    user_id=Prepared.INT,
)


def sessions_visible_to(*, user: User) -> QuerySet[Session]:
    """Admins: all. Staff: their cohorts' group sessions and workshops, and the individual
    and family sessions of patients in their care. Patients: their active cohorts' group
    sessions and workshops, and their own individual/family sessions."""
    return _sessions_visible_as(user=user, role=current_role(user))


def _sessions_visible_as(*, user: User, role: str | None) -> QuerySet[Session]:
    # ``role`` is the one ``current_role`` has just read: callers that needed it for their
    # own decision pass it on rather than reading it twice. No cohort join: a list shows
    # the cohort's id only; the door below joins it for the callers that use it. The
    # caller's cohorts are read first, by a query compiled once, and bound as one list:
    # building and compiling them as a subquery of every list was a fifth of its CPU.
    qs = Session.objects.all()
    if role == Role.ADMIN:
        return qs
    if role in (Role.FACILITATOR, Role.CLINICIAN):
        in_care = Q(patient_id__in=patient_ids_in_care_of(user=user))
        cohorts = [row[0] for row in _STAFF_COHORTS.rows(user_id=user.pk)]
        return qs.filter(cohort_id__any_of=cohorts).filter(~Q(kind__in=PATIENT_KINDS) | in_care)
    if role == Role.PATIENT:
        cohorts = [row[0] for row in _PATIENT_COHORTS.rows(user_id=user.pk)]
        return qs.filter(cohort_id__any_of=cohorts).filter(
            ~Q(kind__in=PATIENT_KINDS) | Q(patient_id=user.pk)
        )
    return qs.none()


_STAFF_COHORTS = Prepared(
    lambda user_id: staff_cohort_ids(user=UserRef(user_id)), user_id=Prepared.INT
)
_PATIENT_COHORTS = Prepared(
    lambda user_id: active_patient_cohort_ids(user=UserRef(user_id)), user_id=Prepared.INT
)


def session_for_user(*, user: User, session_id: Any, attempted: str = "read") -> Session:
    """The door to a session: the session if ``user`` may see it, otherwise ``NotVisible``
    (missing and forbidden alike; the exception handler answers 404 and audits the
    denial against the session's patient, if it names one)."""
    session = sessions_visible_to(user=user).select_related("cohort").filter(pk=session_id).first()
    if session is None:
        patient_id = (
            Session.objects.filter(pk=session_id).values_list("patient_id", flat=True).first()
            if str(session_id).isdigit()
            else None
        )
        raise NotVisible(
            object_type="session", object_id=session_id, patient=patient_id, attempted=attempted
        )
    return session


def my_sessions(*, user: User) -> QuerySet[Session]:
    """The caller's own schedule: a patient's cohorts' group sessions and their own
    individual/family sessions; a staff member's assigned cohorts' sessions. Admins and
    auditors take part in no session."""
    role = current_role(user)
    if role in (Role.PATIENT, Role.FACILITATOR, Role.CLINICIAN):
        return _sessions_visible_as(user=user, role=role)
    return Session.objects.none()


def sessions_read_audit(*, user: User, sessions: Iterable[Session]) -> None:
    """One read event per patient the shown sessions name (individual and family
    sessions), so the trail answers who saw that patient N has a session. Group sessions
    and workshops name nobody and write nothing."""
    by_patient: dict[int, list[int]] = {}
    for session in sessions:
        if session.patient_id is not None:
            by_patient.setdefault(session.patient_id, []).append(session.pk)
    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": "session",
            "object_id": ids[0] if len(ids) == 1 else "",
            "patient": patient_id,
            "detail": {"sessions": sorted(ids)},
        }
        for patient_id, ids in sorted(by_patient.items())
    )
