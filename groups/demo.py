"""Demo cohorts: an evening substance-use IOP and a morning mental-health IOP, with their
care teams and six patients each. Idempotent: a second run creates nothing new."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from groups import services
from groups.models import CareTeamMember, Cohort, Enrollment, EnrollmentStatus, Track

COHORTS: dict[str, dict[str, Any]] = {
    "sud": {
        "name": "Evening Substance-Use IOP",
        "track": Track.SUBSTANCE_USE,
        "timezone": "America/New_York",
        "meeting_days": [1, 2, 4],
        "start_time": dt.time(18, 0),
        "duration_minutes": 180,
    },
    "mh": {
        "name": "Morning Mental-Health IOP",
        "track": Track.MENTAL_HEALTH,
        "timezone": "America/New_York",
        "meeting_days": [1, 2, 3, 4, 5],
        "start_time": dt.time(9, 0),
        "duration_minutes": 180,
    },
}
CARE_TEAMS = {
    "sud": [("fac.maria", "facilitator"), ("dr.chen", "clinician")],
    "mh": [("fac.james", "facilitator"), ("dr.patel", "clinician")],
}
PATIENTS_PER_COHORT = 6


def seed(context: dict[str, Any]) -> None:
    users = context.get("users") or {}
    patients = context.get("patients") or []
    admin = users.get("admin")
    if admin is None:
        context.setdefault("notes", []).append("groups.demo: no demo admin, cohorts skipped.")
        return
    today = timezone.localdate()
    cohorts: dict[str, Cohort] = {}
    for key, fields in COHORTS.items():
        cohort = Cohort.objects.filter(name=fields["name"]).first()
        if cohort is None:
            cohort = services.cohort_create(
                actor=admin, start_date=today - dt.timedelta(weeks=4), **fields
            )
        cohorts[key] = cohort
        for username, role in CARE_TEAMS[key]:
            user = users.get(username)
            if user and not CareTeamMember.objects.filter(cohort=cohort, user=user).exists():
                services.care_team_assign(actor=admin, cohort=cohort, user=user, role=role)
    # Rolling admission: the first six patients in the evening group, the next six in the
    # morning group, each starting on a different day.
    for index, patient in enumerate(patients[: 2 * PATIENTS_PER_COHORT]):
        cohort = cohorts["sud" if index < PATIENTS_PER_COHORT else "mh"]
        if Enrollment.objects.filter(patient=patient, status=EnrollmentStatus.ACTIVE).exists():
            continue
        services.enrollment_create(
            actor=admin,
            cohort=cohort,
            patient=patient,
            start_date=today - dt.timedelta(days=3 * (index % PATIENTS_PER_COHORT)),
            planned_end_date=today + dt.timedelta(weeks=8),
        )
    context["cohorts"] = cohorts
