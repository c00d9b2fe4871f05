"""Prepare vioip for a room benchmark: cohorts, live sessions, enrolled patients, tickets.

Runs with vioip's own settings against ``DATABASE_URL`` (migrating it first) and writes a
JSON plan for the load generator: per room, the session id and one-time WebSocket tickets
for each participant, and a bearer token for the REST probe. Idempotent: a second run reuses
the cohorts, sessions and users and only mints fresh tickets.

    python -m bench.vioip_setup --rooms 100 --participants 20 --tickets 2 --out plan.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vioip.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from groups.models import Cohort, Enrollment, Track  # noqa: E402
from sessions_app.models import Session, SessionKind  # noqa: E402
from sessions_app.rooms.models import AttendanceSegment, Participant, RoomTicket  # noqa: E402
from vioip.accounts.models import Role, User  # noqa: E402
from vioip.accounts.tokens import digest, token_issue  # noqa: E402

PREFIX = "bench"


def _users(count: int) -> list[User]:
    names = [f"{PREFIX}-p{i:05d}" for i in range(count)]
    existing = {u.username: u for u in User.objects.filter(username__in=names)}
    missing = []
    for name in names:
        if name not in existing:
            user = User(username=name, role=Role.PATIENT, first_name="Bench", last_name=name[-5:])
            user.set_unusable_password()
            missing.append(user)
    User.objects.bulk_create(missing, batch_size=1000)
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    return [by_name[name] for name in names]


def _room(index: int, participants: int, now: dt.datetime) -> tuple[Cohort, Session]:
    cohort, _ = Cohort.objects.get_or_create(
        name=f"{PREFIX} room {index:04d}",
        defaults={
            "track": Track.SUBSTANCE_USE,
            "timezone": "UTC",
            "meeting_days": [1, 2, 3, 4, 5, 6, 7],
            "start_time": dt.time(0, 0),
            "duration_minutes": 180,
            "capacity": max(participants, 1),
            "start_date": now.date() - dt.timedelta(days=1),
            # Patients go straight in: the benchmark measures chat, not admission.
            "waiting_room": False,
        },
    )
    session = Session.objects.filter(cohort=cohort, title=f"{PREFIX} session").first()
    starts = now - dt.timedelta(minutes=5)
    if session is None:
        session = Session.objects.create(
            cohort=cohort,
            kind=SessionKind.GROUP_THERAPY,
            title=f"{PREFIX} session",
            starts_at=starts,
            ends_at=starts + dt.timedelta(hours=8),
            waiting_room=False,
        )
    else:
        # A rerun on another day: move the session to now so the room is open.
        Session.objects.filter(pk=session.pk).update(
            starts_at=starts, ends_at=starts + dt.timedelta(hours=8), status="scheduled"
        )
        session.refresh_from_db()
    # An earlier run's daphne was stopped with its sockets open: start from an empty room,
    # as the periodic sweep would have left it.
    Participant.objects.filter(session=session).update(online=False, hand_raised=False)
    AttendanceSegment.objects.filter(session=session, left_at__isnull=True).update(left_at=now)
    return cohort, session


def _tickets(user: User, session: Session, count: int, now: dt.datetime) -> list[str]:
    """``count`` one-time tickets, as ``ticket_issue`` makes them but in one insert: minting
    10,000 one by one would take minutes of the run."""
    raws = [secrets.token_urlsafe(32) for _ in range(count)]
    expires = now + dt.timedelta(seconds=settings.ROOM_TICKET_SECONDS)
    # A ticket is bound to a bearer token of its user (the socket lives as long as it).
    token = token_issue(user=user).token
    RoomTicket.objects.bulk_create(
        [
            RoomTicket(
                digest=digest(raw),
                user=user,
                token=token,
                session=session,
                created_at=now,
                expires_at=expires,
            )
            for raw in raws
        ]
    )
    return raws


def prepare(
    *, rooms: int, participants: int, tickets: int, first_entries: bool = False
) -> dict[str, Any]:
    call_command("migrate", verbosity=0, interactive=False)
    now = timezone.now()
    users = _users(rooms * participants)
    plan: dict[str, Any] = {"rooms": []}
    with transaction.atomic():
        for r in range(rooms):
            cohort, session = _room(r, participants, now)
            if first_entries:
                # Every connect a first entry to the session, as on the day's first session:
                # without this, an earlier run's places make every connect a re-entry.
                Participant.objects.filter(session=session).delete()
            members = users[r * participants : (r + 1) * participants]
            enrolled = set(
                Enrollment.objects.filter(cohort=cohort, status="active").values_list(
                    "patient_id", flat=True
                )
            )
            Enrollment.objects.bulk_create(
                [
                    Enrollment(cohort=cohort, patient=u, start_date=now.date())
                    for u in members
                    if u.pk not in enrolled
                ]
            )
            plan["rooms"].append(
                {
                    "session_id": session.pk,
                    "path": f"/ws/sessions/{session.pk}/",
                    "tickets": [_tickets(u, session, tickets, now) for u in members],
                }
            )
        plan["rest_token"] = token_issue(user=users[0]).raw
    _analyze()
    return plan


def _analyze() -> None:
    """Planner statistics for the rows just written, as autovacuum keeps them on a running
    server. Without them (this machine's PostgreSQL runs with autovacuum off) the planner
    worked from guesses, such as 132 users where there were 2,000."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, required=True)
    parser.add_argument("--participants", type=int, required=True)
    parser.add_argument("--tickets", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--first-entries", action="store_true")
    args = parser.parse_args()
    result = prepare(
        rooms=args.rooms,
        participants=args.participants,
        tickets=args.tickets,
        first_entries=args.first_entries,
    )
    args.out.write_text(json.dumps(result))
