"""Demo sessions: each cohort's group sessions from last week to four weeks ahead, and
one evening group session open right now so a newcomer can join a room. Idempotent
while the open session is still open."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F
from django.utils import timezone

from sessions_app import services
from sessions_app.models import Session, SessionKind, SessionStatus

OPEN_SESSION_TITLE = "Group therapy (open now)"


def seed(context: dict[str, Any]) -> None:
    cohorts = context.get("cohorts") or {}
    admin = (context.get("users") or {}).get("admin")
    if not cohorts or admin is None:
        context.setdefault("notes", []).append("sessions_app.demo: no demo cohorts, skipped.")
        return
    today = timezone.localdate()
    now = timezone.now()
    sessions: list[Session] = []
    for cohort in cohorts.values():
        services.schedule_generate(
            actor=admin,
            cohort=cohort,
            date_from=today - dt.timedelta(days=7),
            date_to=today + dt.timedelta(weeks=4),
        )
        # Sessions already over did take place.
        Session.objects.filter(
            cohort=cohort, status=SessionStatus.SCHEDULED, ends_at__lt=now
        ).update(status=SessionStatus.ENDED, ended_at=F("ends_at"))
        sessions.extend(Session.objects.filter(cohort=cohort, starts_at__gte=now))

    sud = cohorts.get("sud")
    open_session = None
    if sud is not None:
        open_session = Session.objects.filter(
            cohort=sud,
            title=OPEN_SESSION_TITLE,
            ends_at__gt=now + dt.timedelta(minutes=30),
            status__in=[SessionStatus.SCHEDULED, SessionStatus.LIVE],
        ).first()
        if open_session is None:
            starts_at = now.replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
            open_session = services.session_create(
                actor=admin,
                cohort=sud,
                kind=SessionKind.GROUP_THERAPY,
                title=OPEN_SESSION_TITLE,
                starts_at=starts_at,
                ends_at=starts_at + dt.timedelta(hours=3),
            )
            open_session.status = SessionStatus.LIVE
            open_session.save(update_fields=["status", "updated_at"])
        context.setdefault("notes", []).append(
            f"Open now: session {open_session.pk} of {sud.name} "
            f"(until {open_session.ends_at:%H:%M} UTC)."
        )
    context["sessions"] = sessions
    context["open_session"] = open_session
