"""Attendance reports: measured presence, clinicians' adjustments and planned absences,
summed per patient, per day and per week against the cohort's minimums.

Rules every report shares:

- A session belongs to the day it *starts* on in the cohort's time zone, whole, even
  when it runs past midnight (a billing day is the day the service began).
- Weeks are ISO weeks (Monday to Sunday) in the cohort's time zone; a week across a
  daylight-saving change is 167 or 169 hours long, and sessions are placed by their
  local start, so nothing is lost or counted twice.
- Measured minutes are admitted room time (``rooms.AttendanceSegment``) within the
  scheduled start and end; an open segment counts up to now. Adjustments are added on
  top, and a session never counts for more than its scheduled length.
- A step-out for a private check-in (staff send the patient back to the waiting room and
  admit them again) counts: the room keeps the stretch open through it.
- A make-up session (``Session.makeup_for``) counts toward the week it is held in.
- Cancelled sessions are not expected of anyone.

Each report loads its rows in a fixed number of queries, whatever the number of
patients and weeks.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from groups.models import Cohort, Enrollment, Population, StaffRole, Track
from groups.selectors import (
    active_patient_cohort_ids,
    cohort_zone,
    is_cohort_clinician,
    is_cohort_staff,
    is_in_care_of,
    patient_ids_in_care_of,
)
from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.models import PATIENT_KINDS, Session, SessionKind, SessionStatus
from sessions_app.rooms.models import AttendanceSegment
from sessions_app.selectors import current_role, session_for_user
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core import contributions
from vioip.core.errors import NotVisible

ADULT_WEEKLY_MINUTES = 9 * 60
ADOLESCENT_WEEKLY_MINUTES = 6 * 60
DEFAULT_DAILY_MINUTES = 180
ABSENCE_LOOKBACK = dt.timedelta(weeks=26)
DAY_RULE = (
    "A session counts, whole, on the day it starts in the cohort's time zone; weeks are "
    "ISO weeks (Monday-Sunday) in that zone."
)


class AttendanceStatus:
    ATTENDED = "attended"
    ABSENT = "absent"
    EXCUSED = "excused"
    IN_PROGRESS = "in_progress"
    UPCOMING = "upcoming"

    values = (ATTENDED, ABSENT, EXCUSED, IN_PROGRESS, UPCOMING)


# --- Policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    weekly_minimum_minutes: int
    daily_minimum_minutes: int
    billing_code: str


def cohort_policy(cohort: Cohort) -> Policy:
    """The cohort's thresholds and billing code, with the program defaults: ASAM 2.1's
    9 h a week for adults and 6 h for adolescents, 3 h a day, H0015 for substance use
    (dual diagnosis included) and S9480 for mental health."""
    weekly = cohort.weekly_minimum_minutes
    if weekly is None:
        weekly = (
            ADOLESCENT_WEEKLY_MINUTES
            if cohort.population == Population.ADOLESCENT
            else ADULT_WEEKLY_MINUTES
        )
    code = cohort.billing_code or ("S9480" if cohort.track == Track.MENTAL_HEALTH else "H0015")
    return Policy(
        weekly_minimum_minutes=weekly,
        daily_minimum_minutes=cohort.daily_minimum_minutes or DEFAULT_DAILY_MINUTES,
        billing_code=code,
    )


# --- Time ----------------------------------------------------------------------------------


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone)


def week_monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


MIN_REPORT_YEAR, MAX_REPORT_YEAR = 1970, 2999


def parse_week(value: str | None, *, zone: dt.tzinfo) -> dt.date:
    """The Monday of ISO week ``YYYY-Www`` (the current week in ``zone`` when empty).
    Raises ValueError on anything else."""
    if not value:
        return week_monday(timezone.now().astimezone(zone).date())
    year, sep, week = value.partition("-W")
    if not sep or len(year) != 4 or not year.isdigit() or len(week) != 2 or not week.isdigit():
        raise ValueError(value)
    # A report reaches past its week's end (and the cohort's zone shifts it): a year at
    # the calendar's edge would overflow there, and no program runs in it.
    if not MIN_REPORT_YEAR <= int(year) <= MAX_REPORT_YEAR:
        raise ValueError(value)
    return dt.date.fromisocalendar(int(year), int(week), 1)


def week_label(monday: dt.date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


# --- Access --------------------------------------------------------------------------------
#
# Doors: each returns what the caller may see or raises NotVisible (missing and forbidden
# alike; the exception handler answers 404 and audits the denial). The care relationship
# is groups.selectors' (a care-team role matching the user's current role; patients with
# an active enrollment or a discharge inside the documentation window); nothing here
# checks a membership without it.


def _is_admin(user: User) -> bool:
    return current_role(user) == Role.ADMIN


def _cohort(cohort_id: Any) -> Cohort | None:
    return Cohort.objects.filter(pk=cohort_id).first() if str(cohort_id).isdigit() else None


def cohort_attendance_for_user(
    *, user: User, cohort_id: Any, object_type: str = "attendance_report"
) -> Cohort:
    """The cohort if ``user`` may read its attendance: admins and its care team."""
    cohort = _cohort(cohort_id)
    if cohort is not None and (_is_admin(user) or is_cohort_staff(user=user, cohort_id=cohort.pk)):
        return cohort
    raise NotVisible(object_type=object_type, object_id=cohort_id)


def cohort_billing_for_user(*, user: User, cohort_id: Any) -> Cohort:
    """The cohort if ``user`` may export its billing days: admins and its clinicians (a
    clinician demoted to facilitator no longer is one)."""
    cohort = _cohort(cohort_id)
    if cohort is not None and (
        _is_admin(user) or is_cohort_clinician(user=user, cohort_id=cohort.pk)
    ):
        return cohort
    raise NotVisible(object_type="billing_days", object_id=cohort_id, attempted="export")


def attendance_patient_ids(*, user: User, roles: list[str] | None = None) -> Any:
    """Whose attendance ``user`` may see in a cohort report: None (everyone) for admins,
    otherwise the patients in their care (a discharged patient drops out of the care
    team's reports when the documentation window closes)."""
    if _is_admin(user):
        return None
    return patient_ids_in_care_of(user=user, roles=roles)


def enrollment_summary_for_user(*, user: User, cohort_id: Any, enrollment_id: Any) -> Enrollment:
    """The enrollment whose discharge summary ``user`` may read: admins, and the cohort's
    clinicians while the patient is in their care (inside the documentation window after
    discharge)."""
    enrollment = (
        Enrollment.objects.filter(pk=enrollment_id, cohort_id=cohort_id)
        .select_related("patient", "cohort")
        .first()
        if str(enrollment_id).isdigit() and str(cohort_id).isdigit()
        else None
    )
    if enrollment is not None and (
        _is_admin(user)
        or (
            is_cohort_clinician(user=user, cohort_id=enrollment.cohort_id)
            and is_in_care_of(
                user=user, patient_id=enrollment.patient_id, roles=[StaffRole.CLINICIAN]
            )
        )
    ):
        return enrollment
    raise NotVisible(
        object_type="discharge_summary",
        object_id=enrollment_id,
        patient=enrollment.patient_id if enrollment is not None else None,
    )


def aftercare_notes_visible(*, user: User, enrollment: Enrollment) -> bool:
    """Aftercare notes are clinical text: the care team's clinicians read them, admins see
    the plan's level only."""
    return is_cohort_clinician(user=user, cohort_id=enrollment.cohort_id)


def session_adjustments_for_user(*, user: User, session_id: Any) -> Session:
    """The session whose attendance adjustments ``user`` may read: admins and the
    cohort's care team."""
    session = session_for_user(user=user, session_id=session_id)
    if _is_admin(user) or is_cohort_staff(user=user, cohort_id=session.cohort_id):
        return session
    raise NotVisible(
        object_type="attendance_adjustment", object_id=session.pk, patient=session.patient_id
    )


def session_for_adjustment(*, user: User, session_id: Any) -> Session:
    """The session ``user`` may add attendance minutes to: the cohort's clinicians."""
    session = session_for_user(user=user, session_id=session_id, attempted="create")
    if is_cohort_clinician(user=user, cohort_id=session.cohort_id):
        return session
    raise NotVisible(
        object_type="attendance_adjustment",
        object_id=session.pk,
        patient=session.patient_id,
        attempted="create",
    )


def may_adjust_for(*, user: User, patient_id: Any) -> bool:
    """An adjustment completes the record of a session held: the clinician's patient,
    inside the documentation window after discharge too."""
    return is_in_care_of(user=user, patient_id=patient_id, roles=[StaffRole.CLINICIAN])


def session_for_makeup(*, user: User, session_id: Any) -> Session:
    """The missed session ``user`` may offer a make-up for: the cohort's care team (the
    patient's active enrollment is the service's check)."""
    session = session_for_user(user=user, session_id=session_id, attempted="create")
    if is_cohort_staff(user=user, cohort_id=session.cohort_id):
        return session
    raise NotVisible(
        object_type="makeup", object_id=session.pk, patient=session.patient_id, attempted="create"
    )


def adjustments_visible_to(*, user: User, session: Session) -> QuerySet[AttendanceAdjustment]:
    """The session's adjustments, of the patients in the caller's care (admins: all)."""
    qs = AttendanceAdjustment.objects.filter(session=session).order_by("id")
    patient_ids = attendance_patient_ids(user=user)
    return qs if patient_ids is None else qs.filter(patient_id__in=patient_ids)


def absences_of(*, patient: User) -> QuerySet[PlannedAbsence]:
    """A patient's own planned absences."""
    return PlannedAbsence.objects.filter(patient_id=patient.pk).order_by("-session__starts_at")


def absence_for_user(*, user: User, absence_id: Any) -> PlannedAbsence:
    """The door to a planned absence: its patient's own only."""
    absence = (
        PlannedAbsence.objects.select_related("session").filter(pk=absence_id).first()
        if str(absence_id).isdigit()
        else None
    )
    if absence is not None and absence.patient_id == user.pk:
        return absence
    raise NotVisible(
        object_type="planned_absence",
        object_id=absence_id,
        patient=absence.patient_id if absence is not None else None,
    )


def attendance_read_audit(
    *,
    user: User,
    object_type: str,
    object_id: Any,
    patient_ids: Iterable[int],
    action: str = Action.READ,
    detail: dict[str, Any] | None = None,
) -> None:
    """One event per patient whose attendance the caller saw or exported (a report page,
    an export, a summary), never one event for a crowd: the trail answers who saw
    patient N's attendance. ``detail`` holds identifiers and codes only."""
    audit.record_many(
        {
            "action": action,
            "actor": user,
            "object_type": object_type,
            "object_id": object_id,
            "patient": patient_id,
            "detail": detail or {},
        }
        for patient_id in sorted(set(patient_ids))
    )


# --- The ledger ----------------------------------------------------------------------------


@dataclass
class Entry:
    """One expected session of one patient."""

    session_id: int
    kind: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    date: dt.date
    makeup_for: int | None
    measured_minutes: int
    adjustment_minutes: int
    minutes: int
    status: str


@dataclass
class Day:
    date: dt.date
    entries: list[Entry] = field(default_factory=list)

    @property
    def minutes(self) -> int:
        return sum(e.minutes for e in self.entries)

    @property
    def measured_minutes(self) -> int:
        return sum(e.measured_minutes for e in self.entries)

    @property
    def adjustment_minutes(self) -> int:
        return sum(e.adjustment_minutes for e in self.entries)

    @property
    def attended(self) -> bool:
        return self.minutes > 0

    def sessions_attended_by_kind(self) -> dict[str, int]:
        counts = dict.fromkeys(SessionKind.values, 0)
        for entry in self.entries:
            if entry.minutes > 0:
                counts[entry.kind] += 1
        return counts


@dataclass
class PatientLedger:
    patient: User
    enrollment: Enrollment
    entries: list[Entry] = field(default_factory=list)

    def days(self, start: dt.date, end: dt.date) -> list[Day]:
        """Days from ``start`` to ``end`` (inclusive) that have an expected session."""
        by_date: dict[dt.date, Day] = {}
        for entry in self.entries:
            if start <= entry.date <= end:
                by_date.setdefault(entry.date, Day(entry.date)).entries.append(entry)
        return [by_date[d] for d in sorted(by_date)]

    def consecutive_absences(self, until: dt.date) -> int:
        """Unexcused missed sessions in a row, counted back from ``until``. Excused
        sessions neither break nor extend the run."""
        run = 0
        for entry in reversed(self.entries):
            if entry.date > until or entry.status in (
                AttendanceStatus.UPCOMING,
                AttendanceStatus.IN_PROGRESS,
                AttendanceStatus.EXCUSED,
            ):
                continue
            if entry.status != AttendanceStatus.ABSENT:
                break
            run += 1
        return run


def _expected(session: Session, patient_id: int) -> bool:
    return session.kind not in PATIENT_KINDS or session.patient_id == patient_id


def _enrolled_on(enrollment: Enrollment, day: dt.date) -> bool:
    if day < enrollment.start_date:
        return False
    return enrollment.discharged_on is None or day <= enrollment.discharged_on


def _status(*, session: Session, minutes: int, excused: bool, now: dt.datetime) -> str:
    if minutes > 0:
        return AttendanceStatus.ATTENDED
    if excused:
        return AttendanceStatus.EXCUSED
    if session.starts_at > now:
        return AttendanceStatus.UPCOMING
    if session.ends_at > now and session.status != SessionStatus.ENDED:
        return AttendanceStatus.IN_PROGRESS
    return AttendanceStatus.ABSENT


def ledgers(
    *,
    cohort: Cohort,
    first_day: dt.date,
    last_day: dt.date,
    patient_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> list[PatientLedger]:
    """Every patient enrolled in ``cohort`` at some point from ``first_day`` to
    ``last_day`` (local dates, inclusive), with their expected sessions of those days;
    only those of ``patient_ids`` when given (a list or a query). Six queries in all."""
    now = now or timezone.now()
    zone = cohort_zone(cohort)
    start = local_midnight(first_day, zone)
    end = local_midnight(last_day + dt.timedelta(days=1), zone)

    enrollments = (
        Enrollment.objects.filter(cohort=cohort, start_date__lte=last_day)
        .filter(Q(discharged_on__isnull=True) | Q(discharged_on__gte=first_day))
        .select_related("patient")
        .order_by("patient__last_name", "patient__first_name", "patient_id", "start_date")
    )
    if patient_ids is not None:
        enrollments = enrollments.filter(patient_id__in=patient_ids)
    by_patient: dict[int, list[Enrollment]] = {}
    for enrollment in enrollments:
        by_patient.setdefault(enrollment.patient_id, []).append(enrollment)
    if not by_patient:
        return []
    ids = list(by_patient)

    sessions = list(
        Session.objects.filter(cohort=cohort, starts_at__gte=start, starts_at__lt=end)
        .exclude(status=SessionStatus.CANCELLED)
        .order_by("starts_at", "id")
    )
    session_ids = [s.pk for s in sessions]
    seconds: dict[tuple[int, int], float] = defaultdict(float)
    adjusted: dict[tuple[int, int], int] = defaultdict(int)
    excused: set[tuple[int, int]] = set()
    if session_ids:
        by_id = {s.pk: s for s in sessions}
        stretches = list(
            AttendanceSegment.objects.filter(session_id__in=session_ids, user_id__in=ids)
            .order_by("session_id", "user_id", "joined_at")
            .values_list("session_id", "user_id", "joined_at", "left_at")
        )
        for session_id, user_id, joined_at, left_at in stretches:
            session = by_id[session_id]
            begin = max(joined_at, session.starts_at)
            finish = min(left_at or now, session.ends_at, now)
            seconds[(session_id, user_id)] += max(0.0, (finish - begin).total_seconds())
        for adj in AttendanceAdjustment.objects.filter(
            session_id__in=session_ids, patient_id__in=ids
        ).only("session_id", "patient_id", "minutes"):
            adjusted[(adj.session_id, adj.patient_id)] += adj.minutes
        excused = set(
            PlannedAbsence.objects.filter(
                session_id__in=session_ids, patient_id__in=ids
            ).values_list("session_id", "patient_id")
        )

    result = []
    for patient_id, own_enrollments in by_patient.items():
        ledger = PatientLedger(patient=own_enrollments[0].patient, enrollment=own_enrollments[-1])
        for session in sessions:
            day = session.starts_at.astimezone(zone).date()
            if not _expected(session, patient_id) or not any(
                _enrolled_on(e, day) for e in own_enrollments
            ):
                continue
            key = (session.pk, patient_id)
            measured = int(seconds.get(key, 0.0) // 60)
            adjustment = adjusted.get(key, 0)
            scheduled = int((session.ends_at - session.starts_at).total_seconds() // 60)
            minutes = min(measured + adjustment, scheduled)
            ledger.entries.append(
                Entry(
                    session_id=session.pk,
                    kind=session.kind,
                    title=session.title,
                    starts_at=session.starts_at,
                    ends_at=session.ends_at,
                    date=day,
                    makeup_for=session.makeup_for_id,
                    measured_minutes=measured,
                    adjustment_minutes=adjustment,
                    minutes=minutes,
                    status=_status(
                        session=session, minutes=minutes, excused=key in excused, now=now
                    ),
                )
            )
        result.append(ledger)
    return result


# --- Reports -------------------------------------------------------------------------------


def _entry_record(entry: Entry) -> dict[str, Any]:
    return {
        "session_id": entry.session_id,
        "kind": entry.kind,
        "title": entry.title,
        "starts_at": entry.starts_at,
        "ends_at": entry.ends_at,
        "makeup_for": entry.makeup_for,
        "status": entry.status,
        "measured_minutes": entry.measured_minutes,
        "adjustment_minutes": entry.adjustment_minutes,
        "minutes": entry.minutes,
    }


def _day_record(day: Day, policy: Policy) -> dict[str, Any]:
    return {
        "date": day.date,
        "minutes": day.minutes,
        "measured_minutes": day.measured_minutes,
        "adjustment_minutes": day.adjustment_minutes,
        "attended": day.attended,
        "below_daily_minimum": day.attended and day.minutes < policy.daily_minimum_minutes,
        "sessions": [_entry_record(e) for e in day.entries],
    }


def _cohort_record(cohort: Cohort, policy: Policy) -> dict[str, Any]:
    return {
        "id": cohort.pk,
        "name": cohort.name,
        "track": cohort.track,
        "population": cohort.population,
        "timezone": cohort.timezone,
        "billing_code": policy.billing_code,
        "weekly_minimum_minutes": policy.weekly_minimum_minutes,
        "daily_minimum_minutes": policy.daily_minimum_minutes,
    }


def _week_totals(ledger: PatientLedger, monday: dt.date, policy: Policy) -> dict[str, Any]:
    sunday = monday + dt.timedelta(days=6)
    days = ledger.days(monday, sunday)
    minutes = sum(d.minutes for d in days)
    attended = [d for d in days if d.attended]
    statuses = [e.status for d in days for e in d.entries]
    return {
        "days": days,
        "total_minutes": minutes,
        "total_hours": round(minutes / 60, 2),
        "measured_minutes": sum(d.measured_minutes for d in days),
        "adjustment_minutes": sum(d.adjustment_minutes for d in days),
        "days_attended": len(attended),
        "days_meeting_daily_minimum": sum(
            1 for d in attended if d.minutes >= policy.daily_minimum_minutes
        ),
        "sessions_attended": statuses.count(AttendanceStatus.ATTENDED),
        "sessions_absent": statuses.count(AttendanceStatus.ABSENT),
        "sessions_excused": statuses.count(AttendanceStatus.EXCUSED),
        "sessions_remaining": statuses.count(AttendanceStatus.UPCOMING)
        + statuses.count(AttendanceStatus.IN_PROGRESS),
        "below_weekly_minimum": minutes < policy.weekly_minimum_minutes,
        "minutes_to_minimum": max(0, policy.weekly_minimum_minutes - minutes),
    }


def cohort_week_report(
    *,
    cohort: Cohort,
    monday: dt.date,
    patient_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Per patient (of ``patient_ids`` when given: see ``attendance_patient_ids``), per
    day and for the week. Consecutive absences look back to the start of the patient's
    enrollment, not only this week."""
    policy = cohort_policy(cohort)
    sunday = monday + dt.timedelta(days=6)
    first = (
        Enrollment.objects.filter(cohort=cohort, start_date__lte=sunday)
        .filter(Q(discharged_on__isnull=True) | Q(discharged_on__gte=monday))
        .order_by("start_date")
        .values_list("start_date", flat=True)
        .first()
    )
    patients = []
    # Absences are counted back through the enrollment, but never further than this.
    first_day = max(min(first or monday, monday), monday - ABSENCE_LOOKBACK)
    found = ledgers(
        cohort=cohort, first_day=first_day, last_day=sunday, patient_ids=patient_ids, now=now
    )
    for ledger in found:
        totals = _week_totals(ledger, monday, policy)
        if not any(_enrolled_on(ledger.enrollment, monday + dt.timedelta(d)) for d in range(7)):
            continue
        days = totals.pop("days")
        patients.append(
            {
                "patient": {"id": ledger.patient.pk, "display_name": ledger.patient.display_name},
                "enrollment_id": ledger.enrollment.pk,
                **totals,
                "consecutive_absences": ledger.consecutive_absences(sunday),
                "days": [_day_record(d, policy) for d in days],
            }
        )
    return {
        "cohort": _cohort_record(cohort, policy),
        "week": week_label(monday),
        "start": monday,
        "end": sunday,
        "day_rule": DAY_RULE,
        "patients": patients,
    }


WEEK_COLUMNS = [
    "date",
    "patient_id",
    "enrollment_id",
    "sessions_expected",
    "sessions_attended",
    "sessions_absent",
    "sessions_excused",
    "minutes",
    "measured_minutes",
    "adjustment_minutes",
    "below_daily_minimum",
]


def week_report_rows(report: dict[str, Any]) -> dict[str, Any]:
    """The week report as one row per patient-day, for CSV: the same numbers."""
    rows = []
    for patient in report["patients"]:
        for day in patient["days"]:
            statuses = [s["status"] for s in day["sessions"]]
            rows.append(
                {
                    "date": day["date"],
                    "patient_id": patient["patient"]["id"],
                    "enrollment_id": patient["enrollment_id"],
                    "sessions_expected": len(statuses),
                    "sessions_attended": statuses.count(AttendanceStatus.ATTENDED),
                    "sessions_absent": statuses.count(AttendanceStatus.ABSENT),
                    "sessions_excused": statuses.count(AttendanceStatus.EXCUSED),
                    "minutes": day["minutes"],
                    "measured_minutes": day["measured_minutes"],
                    "adjustment_minutes": day["adjustment_minutes"],
                    "below_daily_minimum": day["below_daily_minimum"],
                }
            )
    rows.sort(key=lambda r: (r["date"], r["patient_id"]))
    return {"columns": WEEK_COLUMNS, "rows": rows}


BILLING_COLUMNS = [
    "date",
    "patient_id",
    "cohort_id",
    "cohort",
    "track",
    "minutes",
    "measured_minutes",
    "adjustment_minutes",
    "sessions",
    *(f"sessions_{kind}" for kind in SessionKind.values),
    "billing_code",
    "meets_daily_minimum",
]


def billing_days(
    *,
    cohort: Cohort,
    first_day: dt.date,
    last_day: dt.date,
    patient_ids: Iterable[int] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """One row per patient (of ``patient_ids`` when given) per day attended, in date then
    patient order."""
    policy = cohort_policy(cohort)
    rows = []
    found = ledgers(
        cohort=cohort, first_day=first_day, last_day=last_day, patient_ids=patient_ids, now=now
    )
    for ledger in found:
        for day in ledger.days(first_day, last_day):
            if not day.attended:
                continue
            by_kind = day.sessions_attended_by_kind()
            rows.append(
                {
                    "date": day.date,
                    "patient_id": ledger.patient.pk,
                    "cohort_id": cohort.pk,
                    "cohort": cohort.name,
                    "track": cohort.track,
                    "minutes": day.minutes,
                    "measured_minutes": day.measured_minutes,
                    "adjustment_minutes": day.adjustment_minutes,
                    "sessions": sum(by_kind.values()),
                    **{f"sessions_{kind}": n for kind, n in by_kind.items()},
                    "billing_code": policy.billing_code,
                    "meets_daily_minimum": day.minutes >= policy.daily_minimum_minutes,
                }
            )
    rows.sort(key=lambda r: (r["date"], r["patient_id"]))
    return {
        "cohort": _cohort_record(cohort, policy),
        "from": first_day,
        "to": last_day,
        "day_rule": DAY_RULE,
        "columns": BILLING_COLUMNS,
        "rows": rows,
    }


def my_week(*, user: User, monday: dt.date | None, now: dt.datetime | None = None) -> list[Any]:
    """The patient's own week in each cohort they are actively enrolled in: hours against
    the minimum and what is left to attend."""
    result = []
    cohorts = Cohort.objects.filter(pk__in=active_patient_cohort_ids(user=user))
    for cohort in cohorts:
        policy = cohort_policy(cohort)
        start = monday or parse_week(None, zone=cohort_zone(cohort))
        sunday = start + dt.timedelta(days=6)
        found = ledgers(
            cohort=cohort, first_day=start, last_day=sunday, patient_ids=[user.pk], now=now
        )
        if not found:
            continue
        totals = _week_totals(found[0], start, policy)
        days = totals.pop("days")
        result.append(
            {
                "cohort": {"id": cohort.pk, "name": cohort.name, "timezone": cohort.timezone},
                "week": week_label(start),
                "start": start,
                "end": sunday,
                "weekly_minimum_minutes": policy.weekly_minimum_minutes,
                **totals,
                "sessions": [_entry_record(e) for d in days for e in d.entries],
            }
        )
    return result


def discharge_summary(
    *, enrollment: Enrollment, include_aftercare_notes: bool, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Dates, sessions attended and missed, hours per week and in all, screening
    compliance counts (never results), discharge reason and aftercare plan."""
    now = now or timezone.now()
    cohort = enrollment.cohort
    policy = cohort_policy(cohort)
    zone = cohort_zone(cohort)
    last_day = enrollment.discharged_on or now.astimezone(zone).date()
    found = ledgers(
        cohort=cohort,
        first_day=enrollment.start_date,
        last_day=max(last_day, enrollment.start_date),
        patient_ids=[enrollment.patient_id],
        now=now,
    )
    entries = found[0].entries if found else []
    statuses = [e.status for e in entries]
    minutes = sum(e.minutes for e in entries)
    weeks = []
    monday = week_monday(enrollment.start_date)
    while monday <= last_day:
        week_minutes = sum(
            e.minutes for e in entries if monday <= e.date < monday + dt.timedelta(days=7)
        )
        weeks.append(
            {
                "week": week_label(monday),
                "minutes": week_minutes,
                "hours": round(week_minutes / 60, 2),
                "met_weekly_minimum": week_minutes >= policy.weekly_minimum_minutes,
            }
        )
        monday += dt.timedelta(days=7)
    return {
        "enrollment_id": enrollment.pk,
        "patient": {"id": enrollment.patient_id, "display_name": enrollment.patient.display_name},
        "cohort": _cohort_record(cohort, policy),
        "start_date": enrollment.start_date,
        "planned_end_date": enrollment.planned_end_date,
        "discharged_on": enrollment.discharged_on,
        "status": enrollment.status,
        "sessions_expected": len(
            [
                s
                for s in statuses
                if s not in (AttendanceStatus.UPCOMING, AttendanceStatus.IN_PROGRESS)
            ]
        ),
        "sessions_attended": statuses.count(AttendanceStatus.ATTENDED),
        "sessions_missed": statuses.count(AttendanceStatus.ABSENT),
        "sessions_excused": statuses.count(AttendanceStatus.EXCUSED),
        "total_minutes": minutes,
        "total_hours": round(minutes / 60, 2),
        "adjustment_minutes": sum(e.adjustment_minutes for e in entries),
        "weeks": weeks,
        "screening_compliance": screening_compliance(enrollment=enrollment, last_day=last_day),
        "discharge_reason": enrollment.discharge_reason or None,
        "aftercare": {
            "level": enrollment.aftercare_level or None,
            "notes": enrollment.aftercare_notes if include_aftercare_notes else None,
        },
    }


def screening_compliance(*, enrollment: Enrollment, last_day: dt.date) -> dict[str, Any] | None:
    """Counts only, contributed by the screening app (``vioip.core.contributions``); None
    while no installed app offers them. This app never names the screening app."""
    provider = contributions.screening_compliance.provider()
    if provider is None:
        return None
    counts = provider(
        patient_id=enrollment.patient_id,
        cohort_id=enrollment.cohort_id,
        start=enrollment.start_date,
        end=last_day,
    )
    # Only counts leave this report, whatever the contribution carries later.
    return {"due": counts.due, "taken": counts.taken, "missed": counts.missed}


def patient_attendance(
    *, cohort_id: int, patient_id: int, first_day: dt.date, last_day: dt.date
) -> list[contributions.AttendanceEntry]:
    """This app's contribution ``patient_attendance``: one patient's sessions in one
    cohort that have started, from the ledger (date, kind, status, minutes; no titles, no
    other patients). The caller has checked access to the patient."""
    if first_day > last_day:
        return []
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None:
        return []
    found = ledgers(cohort=cohort, first_day=first_day, last_day=last_day, patient_ids=[patient_id])
    return [
        contributions.AttendanceEntry(date=e.date, kind=e.kind, status=e.status, minutes=e.minutes)
        for e in (found[0].entries if found else [])
        if e.status != AttendanceStatus.UPCOMING
    ]
