from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from groups.models import CareTeamMember, DischargeReason, Enrollment, EnrollmentStatus
from sessions_app.models import Session, SessionStatus
from sessions_app.rooms import tickets
from sessions_app.rooms.models import Participant, RoomTicket
from tests.factories import SessionFactory
from tests.rooms.conftest import open_socket
from vioip.accounts.models import AuthToken, Role, User
from vioip.accounts.tokens import token_issue
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _ticket(user: Any, session: Any) -> Any:
    """A ticket issued directly (bound to a fresh token of ``user``), for users the API
    would refuse one."""
    return tickets.ticket_issue(user=user, session=session, token=token_issue(user=user).token)


def _room_events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action))


# --- Tickets over REST --------------------------------------------------------------------


def test_ticket_is_one_time_random_and_short_lived(client_for: Any, cast: Any, live_session: Any):
    response = client_for(cast.patient).post(f"/api/sessions/{live_session.pk}/ticket/")
    assert response.status_code == 201
    body = response.json()
    assert body["expires_in"] == 30
    assert len(body["ticket"]) >= 43  # 256 bits, url-safe base64
    stored = RoomTicket.objects.get()
    assert body["ticket"] not in stored.digest  # only the digest is kept
    assert stored.user == cast.patient and stored.session == live_session


def test_outsider_and_other_cohorts_patient_get_no_ticket(
    client_for: Any, cast: Any, live_session: Any
):
    for user in (cast.outsider, cast.other_patient, cast.other_clinician):
        response = client_for(user).post(f"/api/sessions/{live_session.pk}/ticket/")
        assert response.status_code == 404, user.username
    # Auditors take part in no program at all.
    response = client_for(cast.auditor).post(f"/api/sessions/{live_session.pk}/ticket/")
    assert response.status_code == 403


def test_anonymous_caller_gets_no_ticket(client_for: Any, live_session: Any):
    assert client_for(None).post(f"/api/sessions/{live_session.pk}/ticket/").status_code == 401


# --- Connecting ---------------------------------------------------------------------------


async def test_patient_enters_and_first_frame_is_room_state(
    join: Any, cast: Any, live_session: Any
):
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    socket, state = await join(cast.patient, live_session)
    assert state["type"] == "room.state"
    assert state["session"]["id"] == live_session.pk
    assert state["me"] == {
        "user_id": cast.patient.pk,
        "display_name": "Alex R.",
        "role": "patient",
        "state": "admitted",
        "muted": False,
        "hand_raised": False,
    }
    assert state["room"] == {"locked": False, "chat_enabled": True, "waiting_room": False}
    assert state["participants"] == [state["me"]]
    assert state["messages"] == [] and state["last_seq"] == 0
    await socket.close()
    joins = await sync_to_async(_room_events)("room_join")
    assert [e.actor_id for e in joins] == [cast.patient.pk]


async def test_room_state_writes_times_as_the_api_does(
    join: Any, client_for: Any, cast: Any, live_session: Any
):
    live_session.waiting_room = False
    live_session.starts_at = live_session.starts_at.replace(microsecond=123456)
    await sync_to_async(live_session.save)()
    socket, _ = await join(cast.patient, live_session)
    await socket.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "héllo 😀"})
    sent = await socket.receive_type("chat.message")
    await socket.close()
    socket, state = await join(cast.patient, live_session)
    await socket.close()

    def read() -> Any:
        return client_for(cast.patient).get(f"/api/sessions/{live_session.pk}/").json()

    api = await sync_to_async(read)()
    assert state["session"]["starts_at"] == api["starts_at"]
    assert state["session"]["starts_at"].endswith(".123456Z")
    assert state["session"]["ends_at"] == api["ends_at"]
    [message] = state["messages"]
    assert message["sent_at"] == sent["sent_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", message["sent_at"])
    assert message["text"] == "héllo 😀"


async def test_missing_unknown_and_foreign_tickets_close_4401(
    issue_ticket: Any, cast: Any, live_session: Any
):
    other = await sync_to_async(SessionFactory)(cohort=cast.cohort)
    foreign = await issue_ticket(cast.patient, other)
    for ticket in ("", "not-a-ticket", foreign):
        socket = await open_socket(live_session.pk, ticket)
        assert await socket.closed() == 4401
    # Nobody is identified by a bad ticket: one event per address and minute, the rest
    # counted and reported by the next event.
    (denied,) = await sync_to_async(_room_events)("room_denied")
    assert denied.outcome == "denied" and denied.actor_id is None
    assert denied.object_type == "session" and denied.object_id == str(live_session.pk)
    assert denied.detail["reason"] == "ticket" and denied.detail["close_code"] == 4401
    assert denied.detail["suppressed"] == 0
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=61)):
        socket = await open_socket(live_session.pk, "another-bad-one")
        assert await socket.closed() == 4401
    events = await sync_to_async(_room_events)("room_denied")
    assert [e.detail["suppressed"] for e in events if e.detail["suppressed"]] == [2]


async def test_reused_ticket_closes_4401(issue_ticket: Any, cast: Any, live_session: Any):
    ticket = await issue_ticket(cast.facilitator, live_session)
    first = await open_socket(live_session.pk, ticket)
    assert (await first.receive())["type"] == "room.state"
    second = await open_socket(live_session.pk, ticket)
    assert await second.closed() == 4401
    await first.close()


async def test_expired_ticket_closes_4401(issue_ticket: Any, cast: Any, live_session: Any):
    ticket = await issue_ticket(cast.facilitator, live_session)
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)):
        socket = await open_socket(live_session.pk, ticket)
        assert await socket.closed() == 4401


def _end_token(user: Any, how: str) -> None:
    tokens = AuthToken.objects.filter(user=user)
    if how == "revoked":
        tokens.update(revoked_at=timezone.now())
    elif how == "expired":
        tokens.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    elif how == "enrolment_only":
        tokens.update(mfa_enrollment_only=True)
    else:
        type(user).objects.filter(pk=user.pk).update(is_active=False)


@pytest.mark.parametrize("how", ["revoked", "expired", "enrolment_only", "deactivated"])
async def test_a_ticket_whose_credential_ended_before_redeeming_closes_4401(
    how: str, issue_ticket: Any, cast: Any, live_session: Any
):
    ticket = await issue_ticket(cast.patient, live_session)
    await sync_to_async(_end_token)(cast.patient, how)
    socket = await open_socket(live_session.pk, ticket)
    assert await socket.closed() == 4401
    assert not await sync_to_async(_room_events)("room_join")
    # Spent all the same: a second try with the same ticket is refused too.
    used = await sync_to_async(lambda: RoomTicket.objects.filter(used_at__isnull=False).count())()
    assert used == 1


async def test_outsider_and_other_cohorts_patient_are_refused_4403(cast: Any, live_session: Any):
    # They cannot get a ticket over REST; a ticket issued anyway still does not let them in.
    for user in (cast.outsider, cast.other_patient):
        issued = await sync_to_async(_ticket)(user, live_session)
        socket = await open_socket(live_session.pk, issued.raw)
        assert await socket.closed() == 4403
    denied = await sync_to_async(_room_events)("room_denied")
    assert {e.actor_id for e in denied} == {cast.outsider.pk, cast.other_patient.pk}
    assert all(e.detail["close_code"] == 4403 for e in denied)


async def test_a_returning_participant_is_checked_again_and_every_entry_is_audited(
    join: Any, cast: Any, live_session: Any
):
    """A person who already has a place in the room is checked and audited like a first
    entry (on PostgreSQL their check, their locks and the audit append share statements
    with the entry's writes), and the trail stays one unbroken chain."""
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    for _ in range(2):
        for user in (cast.patient, cast.facilitator):
            socket, state = await join(user, live_session)
            assert state["me"]["state"] == "admitted"
            await socket.close()
    joins = await sync_to_async(_room_events)("room_join")
    assert [e.actor_id for e in joins] == [cast.patient.pk, cast.facilitator.pk] * 2
    assert all(e.detail == {"state": "admitted"} for e in joins)

    def discharge() -> None:
        Enrollment.objects.filter(patient=cast.patient).update(
            status=EnrollmentStatus.DISCHARGED,
            discharged_on=timezone.now().date(),
            discharge_reason=DischargeReason.COMPLETED,
        )
        Session.objects.filter(pk=live_session.pk).update(status=SessionStatus.ENDED)

    await sync_to_async(discharge)()
    # Tickets issued directly: the API no longer gives them one.
    for user, code in ((cast.patient, 4403), (cast.facilitator, 4410)):
        issued = await sync_to_async(_ticket)(user, live_session)
        socket = await open_socket(live_session.pk, issued.raw)
        assert await socket.closed() == code
    denied = await sync_to_async(_room_events)("room_denied")
    assert [(e.actor_id, e.detail["reason"], e.detail["close_code"]) for e in denied] == [
        (cast.patient.pk, "not_a_member", 4403),
        (cast.facilitator.pk, "session_closed", 4410),
    ]
    # A refused entry writes nothing but its audit event: nobody is online, no new joins.
    online = await sync_to_async(lambda: Participant.objects.filter(online=True).count())()
    assert online == 0
    assert len(await sync_to_async(_room_events)("room_join")) == 4
    await sync_to_async(call_command)("verify_audit")


@pytest.mark.parametrize("change", ["removed_from_care_team", "demoted"])
async def test_staff_with_a_place_who_lost_the_relationship_are_refused_4403(
    change: str, join: Any, cast: Any, live_session: Any
):
    """The relationship is checked again on every entry, also for someone who already has
    a place in the room (on PostgreSQL, in the statement that takes the room's lock)."""
    socket, state = await join(cast.facilitator, live_session)
    assert state["me"]["state"] == "admitted"
    await socket.close()

    def end_relationship() -> None:
        if change == "removed_from_care_team":
            CareTeamMember.objects.filter(user=cast.facilitator).delete()
        else:
            # Their care-team membership is as a facilitator; their role no longer is.
            User.objects.filter(pk=cast.facilitator.pk).update(role=Role.CLINICIAN)

    await sync_to_async(end_relationship)()
    issued = await sync_to_async(_ticket)(cast.facilitator, live_session)
    socket = await open_socket(live_session.pk, issued.raw)
    assert await socket.closed() == 4403
    denied = await sync_to_async(_room_events)("room_denied")
    assert [(e.actor_id, e.detail["reason"]) for e in denied] == [
        (cast.facilitator.pk, "not_a_member")
    ]
    online = await sync_to_async(lambda: Participant.objects.filter(online=True).count())()
    assert online == 0


async def test_admin_who_sees_the_session_is_not_in_the_room(
    refused: Any, cast: Any, live_session: Any
):
    assert await refused(cast.admin, live_session) == 4403


async def test_patient_cannot_enter_another_patients_individual_session(
    refused: Any, join: Any, cast: Any
):
    individual = await sync_to_async(SessionFactory)(
        cohort=cast.cohort, kind="individual", patient=cast.facilitator, waiting_room=False
    )
    issued = await sync_to_async(_ticket)(cast.patient, individual)
    socket = await open_socket(individual.pk, issued.raw)
    assert await socket.closed() == 4403


async def test_patient_may_enter_fifteen_minutes_early_but_not_sooner(
    refused: Any, join: Any, cast: Any
):
    soon = await sync_to_async(SessionFactory)(
        cohort=cast.cohort, starts_at=timezone.now() + dt.timedelta(minutes=14)
    )
    later = await sync_to_async(SessionFactory)(
        cohort=cast.cohort, starts_at=timezone.now() + dt.timedelta(minutes=16)
    )
    socket, state = await join(cast.patient, soon)
    assert state["me"]["state"] == "waiting"
    await socket.close()
    assert await refused(cast.patient, later) == 4403
    # Staff may open the room any time.
    socket, state = await join(cast.facilitator, later)
    assert state["me"]["state"] == "admitted"
    await socket.close()


async def test_patient_cannot_enter_after_the_end(refused: Any, cast: Any):
    past = await sync_to_async(SessionFactory)(
        cohort=cast.cohort, starts_at=timezone.now() - dt.timedelta(hours=4)
    )
    assert await refused(cast.patient, past) == 4403


async def test_cancelled_or_ended_session_closes_4410(refused: Any, cast: Any):
    for status in (SessionStatus.CANCELLED, SessionStatus.ENDED):
        session = await sync_to_async(SessionFactory)(cohort=cast.cohort, status=status)
        assert await refused(cast.facilitator, session) == 4410
        assert await refused(cast.patient, session) == 4410


async def test_socket_without_origin_is_refused(cast: Any, live_session: Any):
    from channels.testing import WebsocketCommunicator

    from vioip.asgi import application

    issued = await sync_to_async(_ticket)(cast.patient, live_session)
    comm = WebsocketCommunicator(
        application, f"/ws/sessions/{live_session.pk}/?ticket={issued.raw}"
    )
    connected, _ = await comm.connect()
    assert not connected
