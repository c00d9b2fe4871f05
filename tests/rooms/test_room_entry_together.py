"""Sockets that reach a room's door at the same moment (a group starting, a reconnect
storm) are let in together on PostgreSQL: one lock of the room and one audit append for
all of them. Each must come out exactly as it would alone — its own close code or
``room.state``, its own audit event with its own connection's context, its own
attendance — and a refusal among them refuses only that socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.utils import timezone

from groups.models import DischargeReason, Enrollment, EnrollmentStatus
from sessions_app.rooms import tickets
from sessions_app.rooms.models import AttendanceSegment, Participant
from tests.factories import EnrollmentFactory, UserFactory
from tests.rooms.conftest import Socket, open_socket
from vioip.accounts.models import Role
from vioip.accounts.tokens import token_issue
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)


def _ticket(user: Any, session: Any) -> str:
    raw: str = tickets.ticket_issue(
        user=user, session=session, token=token_issue(user=user).token
    ).raw
    return raw


async def _all_at_once(session: Any, raws: list[str]) -> list[Socket]:
    return list(await asyncio.gather(*(open_socket(session.pk, raw) for raw in raws)))


async def _first_frame_or_close(socket: Socket) -> Any:
    """``room.state``'s ``me`` for a socket let in, its close code for one refused."""
    message = await socket.comm.receive_output(timeout=3)
    if message["type"] == "websocket.close":
        return message["code"]
    frame = json.loads(message["text"])
    assert frame["type"] == "room.state", frame
    return frame["me"]["state"]


def _patients(cohort: Any, count: int) -> list[Any]:
    patients = []
    for n in range(count):
        patient = UserFactory(username=f"together{n}", role=Role.PATIENT)
        EnrollmentFactory(cohort=cohort, patient=patient)
        patients.append(patient)
    return patients


async def _have_places(session: Any, users: list[Any]) -> None:
    """Each of ``users`` enters once and leaves: they have a place in the room."""
    for user in users:
        socket = await open_socket(session.pk, await sync_to_async(_ticket)(user, session))
        assert await _first_frame_or_close(socket) == "admitted"
        await socket.close()


async def test_sockets_knocking_at_once_all_enter_each_audited_in_one_chain(
    cast: Any, live_session: Any
):
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    patients = await sync_to_async(_patients)(cast.cohort, 6)
    returning = [*patients[:5], cast.facilitator]
    await _have_places(live_session, returning)
    before = await sync_to_async(lambda: set(AuditEvent.objects.values_list("pk", flat=True)))()

    # Five returning patients and a facilitator with places, a patient and a clinician
    # entering for the first time, all at once.
    users = [*returning, patients[5], cast.clinician]
    raws = [await sync_to_async(_ticket)(user, live_session) for user in users]
    sockets = await _all_at_once(live_session, raws)
    assert [await _first_frame_or_close(s) for s in sockets] == ["admitted"] * len(users)

    def check() -> None:
        joins = list(
            AuditEvent.objects.filter(action="room_join").exclude(pk__in=before).order_by("seq")
        )
        assert sorted(e.actor_id for e in joins) == sorted(u.pk for u in users)
        assert all(e.object_id == str(live_session.pk) for e in joins)
        assert all(e.detail == {"state": "admitted"} for e in joins)
        # Each event carries its own connection's request id, not the first socket's.
        assert len({e.request_id for e in joins}) == len(users)
        assert all(e.request_id for e in joins)
        patient_ids = {p.pk for p in patients}
        assert all((e.patient_id == e.actor_id) == (e.actor_id in patient_ids) for e in joins)
        online = set(
            Participant.objects.filter(session=live_session, online=True).values_list(
                "user_id", flat=True
            )
        )
        assert online == {u.pk for u in users}
        open_stretches = AttendanceSegment.objects.filter(
            session=live_session, left_at__isnull=True
        )
        assert sorted(open_stretches.values_list("user_id", flat=True)) == sorted(
            u.pk for u in users
        )

    await sync_to_async(check)()
    await sync_to_async(call_command)("verify_audit")
    for socket in sockets:
        await socket.close()


async def test_a_refusal_among_them_refuses_only_that_socket(cast: Any, live_session: Any):
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    stays, removed, discharged = await sync_to_async(_patients)(cast.cohort, 3)
    await _have_places(live_session, [stays, removed, discharged, cast.facilitator])

    def end_two() -> None:
        Participant.objects.filter(session=live_session, user=removed).update(
            removed=True, removed_at=timezone.now()
        )
        Enrollment.objects.filter(patient=discharged).update(
            status=EnrollmentStatus.DISCHARGED,
            discharged_on=timezone.now().date(),
            discharge_reason=DischargeReason.COMPLETED,
        )

    await sync_to_async(end_two)()
    before = await sync_to_async(lambda: set(AuditEvent.objects.values_list("pk", flat=True)))()
    raws = [
        await sync_to_async(_ticket)(user, live_session)
        for user in (stays, removed, discharged, cast.facilitator, stays)
    ]
    # An unknown ticket and someone from another cohort knock with them.
    raws.insert(2, "not-a-ticket")
    raws.append(await sync_to_async(_ticket)(cast.other_patient, live_session))
    sockets = await _all_at_once(live_session, raws)
    outcomes = [await _first_frame_or_close(s) for s in sockets]
    assert outcomes == ["admitted", 4403, 4401, 4403, "admitted", "admitted", 4403]

    def check() -> None:
        events = AuditEvent.objects.exclude(pk__in=before).exclude(action="auth_failed")
        denied = sorted(
            (e.actor_id, e.outcome, e.detail["reason"], e.detail["close_code"])
            for e in events.filter(action="room_denied", actor__isnull=False)
        )
        assert denied == sorted(
            [
                (removed.pk, "denied", "removed", 4403),
                (discharged.pk, "denied", "not_a_member", 4403),
                (cast.other_patient.pk, "denied", "not_a_member", 4403),
            ]
        )
        joins = sorted(e.actor_id for e in events.filter(action="room_join"))
        # The same person's two sockets: two entries, one place.
        assert joins == sorted([stays.pk, stays.pk, cast.facilitator.pk])
        online = set(
            Participant.objects.filter(session=live_session, online=True).values_list(
                "user_id", flat=True
            )
        )
        assert online == {stays.pk, cast.facilitator.pk}
        assert not Participant.objects.filter(user=cast.other_patient).exists()

    await sync_to_async(check)()
    await sync_to_async(call_command)("verify_audit")
    for socket, outcome in zip(sockets, outcomes, strict=True):
        if outcome == "admitted":
            await socket.close()


async def _room_states(sockets: list[Socket]) -> list[dict[str, Any]]:
    frames = []
    for socket in sockets:
        frame = await socket.receive()
        assert frame["type"] == "room.state", frame
        frames.append(frame)
    return frames


async def test_sockets_let_in_together_each_get_the_room_state_their_role_may_see(
    cast: Any, live_session: Any
):
    # A room with a waiting room: one patient already admitted earlier, two waiting. Their
    # first room.state is read once for all of them; each frame still shows only what
    # its reader may see.
    admitted, waiting, also_waiting = await sync_to_async(_patients)(cast.cohort, 3)
    staff = await open_socket(
        live_session.pk, await sync_to_async(_ticket)(cast.facilitator, live_session)
    )
    await staff.receive_type("room.state")
    for user in (admitted, waiting, also_waiting):
        socket = await open_socket(
            live_session.pk, await sync_to_async(_ticket)(user, live_session)
        )
        await socket.receive_type("room.state")
        await socket.close()
    await staff.send({"type": "waiting.admit", "user_id": admitted.pk})
    await staff.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "welcome back"})
    sent = await staff.receive_type("chat.message")

    users = [admitted, waiting, cast.clinician, also_waiting]
    raws = [await sync_to_async(_ticket)(user, live_session) for user in users]
    sockets = await _all_at_once(live_session, raws)
    frames = dict(zip([u.pk for u in users], await _room_states(sockets), strict=True))

    assert {user_id: frame["me"]["state"] for user_id, frame in frames.items()} == {
        admitted.pk: "admitted",
        waiting.pk: "waiting",
        cast.clinician.pk: "admitted",
        also_waiting.pk: "waiting",
    }
    assert all(frames[u]["me"]["user_id"] == u for u in frames)
    # Waiting patients see their own record and the room's flags only.
    for user in (waiting, also_waiting):
        assert "participants" not in frames[user.pk] and "messages" not in frames[user.pk]
    # The admitted patient sees the admitted people; staff see everyone present.
    everyone = {cast.facilitator.pk, *(u.pk for u in users)}
    in_room = {cast.facilitator.pk, admitted.pk, cast.clinician.pk}
    shown = {
        u: {p["user_id"] for p in frames[u]["participants"]}
        for u in in_room - {cast.facilitator.pk}
    }
    assert shown == {admitted.pk: in_room, cast.clinician.pk: everyone}
    for user_id in (admitted.pk, cast.clinician.pk):
        assert [m["seq"] for m in frames[user_id]["messages"]] == [sent["seq"]]
        assert frames[user_id]["messages"][0]["text"] == "welcome back"
        assert frames[user_id]["last_seq"] == sent["seq"]
    for socket in [*sockets, staff]:
        await socket.close()
