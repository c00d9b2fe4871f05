"""Row locks that meet the audit chain's: a room's writes lock their own rows only, so an
audit event that names the same person, appended at the same moment on another process,
never deadlocks with them."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from sessions_app.rooms import entry
from sessions_app.rooms.models import Participant
from vioip.audit import services as audit
from vioip.audit.models import Action, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_leave_and_an_audit_event_naming_the_same_person_both_commit(
    cast: Any, live_session: Any
):
    if connection.vendor != "postgresql":
        pytest.skip("row locks and deferred reference checks are PostgreSQL's")
    Participant.objects.create(
        session=live_session, user=cast.patient, state="admitted", online=True
    )
    head_held, leave_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_request() -> None:
        # Holds the chain head, then commits: the commit checks the event's reference to
        # the patient's user row.
        try:
            with transaction.atomic():
                audit.record(action=Action.READ, actor=cast.patient, object_type="session")
                head_held.set()
                leave_started.wait(5)
                # Let the leave lock its rows and queue on the head.
                threading.Event().wait(0.5)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def leave() -> None:
        try:
            head_held.wait(5)
            leave_started.set()
            entry.room_leave(
                session_id=live_session.pk, user_id=cast.patient.pk, left_at=timezone.now()
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=other_request), threading.Thread(target=leave)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert not Participant.objects.get(session=live_session, user=cast.patient).online
    assert AuditEvent.objects.filter(action=Action.ROOM_LEAVE, actor=cast.patient).exists()
