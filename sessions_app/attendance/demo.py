"""Demo attendance: last week's ended sessions get measured room time (some patients
full, some partial, one absent), one clinician adjustment and one planned absence, so
the reports have something to show. Idempotent: nothing is added twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from groups.models import Enrollment, EnrollmentStatus
from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.models import PATIENT_KINDS, Session, SessionStatus
from sessions_app.rooms.models import AttendanceSegment

# Minutes of a 180-minute session each patient (by position in the cohort) attends; 0 is
# a missed session. Varied so some weeks fall under the minimum.
PATTERN = [180, 170, 120, 180, 0, 150]


def seed(context: dict[str, Any]) -> None:
    cohorts = context.get("cohorts") or {}
    clinicians = {
        "sud": (context.get("users") or {}).get("dr.chen"),
        "mh": (context.get("users") or {}).get("dr.patel"),
    }
    if not cohorts:
        context.setdefault("notes", []).append("attendance.demo: no demo cohorts, skipped.")
        return
    now = timezone.now()
    for key, cohort in cohorts.items():
        patients = [
            e.patient
            for e in Enrollment.objects.filter(cohort=cohort, status=EnrollmentStatus.ACTIVE)
            .select_related("patient")
            .order_by("id")
        ]
        past = Session.objects.filter(
            cohort=cohort,
            status=SessionStatus.ENDED,
            ends_at__lt=now,
            starts_at__gte=now - dt.timedelta(days=14),
        ).exclude(kind__in=PATIENT_KINDS)
        for session in past:
            for index, patient in enumerate(patients):
                minutes = min(
                    PATTERN[index % len(PATTERN)],
                    int((session.ends_at - session.starts_at).total_seconds() // 60),
                )
                day = session.starts_at.date()
                enrolled = Enrollment.objects.filter(
                    cohort=cohort, patient=patient, start_date__lte=day
                ).exists()
                if not minutes or not enrolled:
                    continue
                if AttendanceSegment.objects.filter(session=session, user=patient).exists():
                    continue
                joined = session.starts_at + dt.timedelta(minutes=2)
                AttendanceSegment.objects.create(
                    session=session,
                    user=patient,
                    joined_at=joined,
                    left_at=min(joined + dt.timedelta(minutes=minutes), session.ends_at),
                )
        clinician = clinicians.get(key)
        last = past.order_by("-starts_at").first()
        if patients and clinician is not None and last is not None:
            missed = patients[4 % len(patients)]
            if not AttendanceAdjustment.objects.filter(session=last, patient=missed).exists():
                AttendanceAdjustment.objects.create(
                    session=last,
                    patient=missed,
                    minutes=60,
                    reason="Video failed; joined by phone for the first hour (demo).",
                    created_by=clinician,
                )
        upcoming = (
            Session.objects.filter(cohort=cohort, starts_at__gt=now)
            .exclude(kind__in=PATIENT_KINDS)
            .exclude(status=SessionStatus.CANCELLED)
            .order_by("starts_at")
            .first()
        )
        if patients and upcoming is not None:
            PlannedAbsence.objects.get_or_create(
                session=upcoming,
                patient=patients[0],
                defaults={"reason": "Medical appointment (demo)."},
            )
        context.setdefault("notes", []).append(
            f"Attendance: GET /api/cohorts/{cohort.pk}/attendance/ "
            f"(chart: .../attendance/chart/, billing: /api/cohorts/{cohort.pk}/billing-days/)."
        )
