"""Access ends everywhere: whatever takes a user's access away closes their open sockets
within 5 seconds with the documented code (4401 the credential ended, 4403 the relationship
ended), no frame of theirs is acted on after it, and entry is refused afterwards.

Real sockets on the embedded default (the two-process version is in
test_room_multiprocess.py)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework.test import APIClient

from groups.models import CareTeamMember, Enrollment, EnrollmentStatus
from sessions_app.rooms import tickets
from sessions_app.rooms.models import ChatMessage, Room
from tests.rooms.conftest import Socket, open_socket
from vioip.accounts.models import AuthToken
from vioip.accounts.tokens import token_issue
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)

WITHIN = 5.0  # seconds: the documented bound


@pytest.fixture
def room(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


async def _enter(client: APIClient, session: Any) -> Socket:
    response = await sync_to_async(client.post)(f"/api/sessions/{session.pk}/ticket/")
    assert response.status_code == 201, response.content
    socket = await open_socket(session.pk, response.json()["ticket"])
    state = await socket.receive()
    assert state["type"] == "room.state" and state["me"]["state"] == "admitted"
    return socket


def _chat(client_id: str, text: str = "after the end") -> dict[str, Any]:
    return {"type": "chat.send", "client_id": client_id, "text": text}


async def _alive(socket: Socket) -> list[dict[str, Any]]:
    """The socket answers a ping; the frames it got before the pong."""
    ref = uuid.uuid4().hex
    await socket.send({"type": "ping", "ref": ref})
    frames = []
    while True:
        frame = await socket.receive(timeout=5)
        if frame["type"] == "pong" and frame.get("ref") == ref:
            return frames
        frames.append(frame)


async def _closed_within(socket: Socket, seconds: float = WITHIN) -> tuple[int, list[str]]:
    """The close code (within ``seconds``) and the types of the frames before it."""
    started = time.monotonic()
    seen: list[str] = []
    while True:
        output = await socket.comm.receive_output(timeout=seconds)
        if output["type"] == "websocket.close":
            assert time.monotonic() - started < seconds
            return int(output.get("code", 1000)), seen
        if output.get("text"):
            seen.append(json.loads(output["text"])["type"])


def _stored(client_id: str) -> bool:
    return ChatMessage.objects.filter(client_id=client_id).exists()


def _today_of(cohort: Any) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(cohort.timezone)).date()


# --- Each way access ends ------------------------------------------------------------------


@dataclass
class Path:
    subject: str  # who loses access (an attribute of the cast)
    code: int

    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        raise NotImplementedError

    def ticket_afterwards(self, *, own: APIClient, fresh: Callable[[], APIClient]) -> int:
        """The status of a ticket request after the revocation."""
        raise NotImplementedError


class Logout(Path):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        assert own.post("/api/auth/logout/").status_code in (200, 204)

    def ticket_afterwards(self, *, own: APIClient, fresh: Callable[[], APIClient]) -> int:
        return int(own.post(f"/api/sessions/{self.session_id}/ticket/").status_code)

    session_id = 0


class LogoutEverywhere(Logout):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        response = own.post("/api/auth/logout-everywhere/")
        if response.status_code == 404:
            pytest.skip("POST /api/auth/logout-everywhere/ is not there yet")
        assert response.status_code in (200, 204), response.content


class Deactivation(Logout):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        user = getattr(cast, self.subject)
        response = admin.patch(f"/api/users/{user.pk}/", {"is_active": False}, format="json")
        assert response.status_code == 200, response.content

    def ticket_afterwards(self, *, own: APIClient, fresh: Callable[[], APIClient]) -> int:
        # Neither the old token nor any new one: the account is off.
        assert fresh().post(f"/api/sessions/{self.session_id}/ticket/").status_code == 401
        return super().ticket_afterwards(own=own, fresh=fresh)


class PasswordChange(Logout):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        user = getattr(cast, self.subject)
        response = admin.patch(
            f"/api/users/{user.pk}/", {"password": "A new long passphrase 2026!"}, format="json"
        )
        assert response.status_code == 200, response.content


class RoleChange(Path):
    new_role = ""
    session_id = 0

    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        user = getattr(cast, self.subject)
        response = admin.patch(f"/api/users/{user.pk}/", {"role": self.new_role}, format="json")
        assert response.status_code == 200, response.content

    def ticket_afterwards(self, *, own: APIClient, fresh: Callable[[], APIClient]) -> int:
        # The token still works; the relationship does not: the session is not theirs.
        return int(fresh().post(f"/api/sessions/{self.session_id}/ticket/").status_code)


class Discharge(RoleChange):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        enrollment = Enrollment.objects.get(cohort=cast.cohort, patient=cast.patient)
        response = admin.post(
            f"/api/cohorts/{cast.cohort.pk}/enrollments/{enrollment.pk}/discharge/",
            {
                "reason": "completed",
                "discharged_on": _today_of(cast.cohort).isoformat(),
                "aftercare": {"level": "weekly_outpatient", "notes": ""},
            },
            format="json",
        )
        assert response.status_code == 200, response.content


class CareTeamRemoval(RoleChange):
    def revoke(self, *, own: APIClient, admin: APIClient, cast: Any) -> None:
        user = getattr(cast, self.subject)
        response = admin.delete(f"/api/cohorts/{cast.cohort.pk}/staff/{user.pk}/")
        assert response.status_code == 204, response.content


def _role_change(subject: str, new_role: str) -> RoleChange:
    path = RoleChange(subject, 4403)
    path.new_role = new_role
    return path


PATHS = {
    "logout": Logout("patient", 4401),
    "logout_everywhere": LogoutEverywhere("facilitator", 4401),
    "deactivation": Deactivation("patient", 4401),
    "password_change": PasswordChange("clinician", 4401),
    "role_change_clinician": _role_change("clinician", "facilitator"),
    "role_change_facilitator": _role_change("facilitator", "clinician"),
    "discharge": Discharge("patient", 4403),
    "care_team_removal": CareTeamRemoval("facilitator", 4403),
}
# logout_everywhere last: its endpoint came with another change.
ORDER = [name for name in PATHS if name != "logout_everywhere"] + ["logout_everywhere"]


@pytest.mark.parametrize("name", ORDER)
async def test_access_ending_closes_the_open_socket_within_five_seconds(
    name: str, client_for: Any, cast: Any, room: Any
):
    path = PATHS[name]
    path.session_id = room.pk
    subject = getattr(cast, path.subject)
    bystander = cast.clinician if path.subject != "clinician" else cast.facilitator
    own = await sync_to_async(client_for)(subject)
    admin = await sync_to_async(client_for)(cast.admin)
    socket = await _enter(own, room)
    watcher = await _enter(await sync_to_async(client_for)(bystander), room)
    await _alive(socket)

    await sync_to_async(path.revoke)(own=own, admin=admin, cast=cast)
    # Sent right after the revocation (it races the close): never stored nor broadcast.
    late = str(uuid.uuid4())
    await socket.send(_chat(late))

    code, frames = await _closed_within(socket)
    assert code == path.code
    assert "chat.message" not in frames
    assert not await sync_to_async(_stored)(late)
    # Everyone else stays, and saw nothing of the late message.
    seen = await _alive(watcher)
    assert not [f for f in seen if f["type"] == "chat.message"]
    # Entry afterwards is refused.
    status = await sync_to_async(path.ticket_afterwards)(own=own, fresh=lambda: client_for(subject))
    assert status == (401 if path.code == 4401 else 404)
    if path.code == 4403:
        # Even a ticket made without the API (bound to a live token) does not get in.
        issued = await sync_to_async(
            lambda: tickets.ticket_issue(
                user=type(subject).objects.get(pk=subject.pk),
                session=room,
                token=token_issue(user=subject).token,
            )
        )()
        again = await open_socket(room.pk, issued.raw)
        assert await again.closed() == 4403
    # The close is audited against the socket's connection.
    ended = await sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(
                action="room_denied", actor=subject, detail__reason="access_ended"
            )
        )
    )()
    assert [e.detail["close_code"] for e in ended] == [path.code]
    assert ended[0].request_id
    await watcher.close()


async def test_discharge_closes_the_patient_at_once_and_keeps_the_staff(
    client_for: Any, cast: Any, room: Any
):
    patient = await _enter(await sync_to_async(client_for)(cast.patient), room)
    staff = [
        await _enter(await sync_to_async(client_for)(user), room)
        for user in (cast.facilitator, cast.clinician)
    ]
    admin = await sync_to_async(client_for)(cast.admin)
    await sync_to_async(Discharge("patient", 4403).revoke)(own=admin, admin=admin, cast=cast)
    code, _ = await _closed_within(patient)
    assert code == 4403
    for socket in staff:
        await _alive(socket)
        await socket.send(_chat(str(uuid.uuid4()), "still here"))
        assert (await socket.receive_type("chat.message"))["text"] == "still here"
        await socket.close()


async def test_logout_of_another_token_leaves_the_socket_open(
    client_for: Any, cast: Any, room: Any
):
    socket = await _enter(await sync_to_async(client_for)(cast.patient), room)
    other_device = await sync_to_async(client_for)(cast.patient)
    assert (await sync_to_async(other_device.post)("/api/auth/logout/")).status_code in (200, 204)
    await socket.send(_chat(str(uuid.uuid4()), "still mine"))
    assert (await socket.receive_type("chat.message"))["text"] == "still mine"
    await socket.close()


# --- A lost access.changed: every frame re-checks, and so does the heartbeat ---------------


async def test_every_frame_rechecks_access_without_the_layer_message(
    client_for: Any, cast: Any, room: Any
):
    # Nothing tells the sockets: the relationship changes in the database only.
    patient = await _enter(await sync_to_async(client_for)(cast.patient), room)
    staff = await _enter(await sync_to_async(client_for)(cast.facilitator), room)
    await sync_to_async(
        lambda: Enrollment.objects.filter(patient=cast.patient).update(
            status=EnrollmentStatus.DISCHARGED, discharged_on=_today_of(cast.cohort)
        )
    )()
    late = str(uuid.uuid4())
    await patient.send({**_chat(late), "ref": "late"})
    error = await patient.receive_type("error")
    assert error["code"] == "access_ended" and error["ref"] == "late"
    assert await patient.closed() == 4403
    assert not await sync_to_async(_stored)(late)

    await sync_to_async(lambda: CareTeamMember.objects.filter(user=cast.facilitator).delete())()
    await staff.send({"type": "room.lock"})
    assert (await staff.receive_type("error"))["code"] == "access_ended"
    assert await staff.closed() == 4403
    assert not await sync_to_async(lambda: Room.objects.get(pk=room.pk).locked)()


@pytest.mark.parametrize("frame", ["chat.send", "chat.history", "hand.raise", "hand.lower"])
async def test_chat_reads_and_hand_frames_recheck_the_token(
    frame: str, client_for: Any, cast: Any, room: Any
):
    socket = await _enter(await sync_to_async(client_for)(cast.patient), room)
    # The token ends without a word to the socket: revoked, or past its absolute expiry.
    await sync_to_async(
        lambda: AuthToken.objects.filter(user=cast.patient).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
    )()
    content: dict[str, Any] = {"type": frame}
    if frame == "chat.history":
        content["after_seq"] = 0
    if frame == "chat.send":
        # The token's end is a time compared in the statement that stores (PostgreSQL).
        content = _chat(str(uuid.uuid4()))
    await socket.send(content)
    assert (await socket.receive_type("error"))["code"] == "access_ended"
    assert await socket.closed() == 4401
    if frame == "chat.send":
        assert not await sync_to_async(_stored)(content["client_id"])


async def test_idle_limit_of_the_rest_token_does_not_end_the_socket(
    client_for: Any, cast: Any, room: Any, settings: Any
):
    # A patient in a three-hour group makes no REST calls: only the absolute expiry counts.
    socket = await _enter(await sync_to_async(client_for)(cast.patient), room)
    idle = dt.timedelta(minutes=settings.TOKEN_IDLE_MINUTES + 5)
    await sync_to_async(
        lambda: AuthToken.objects.filter(user=cast.patient).update(
            last_used_at=timezone.now() - idle
        )
    )()
    await socket.send(_chat(str(uuid.uuid4()), "an hour in"))
    assert (await socket.receive_type("chat.message"))["text"] == "an hour in"
    await socket.close()


async def test_heartbeat_closes_a_socket_whose_access_ended_silently(
    client_for: Any, cast: Any, room: Any, settings: Any
):
    settings.ROOM_PRESENCE_TTL_SECONDS = 3  # a beat every second
    staff = await _enter(await sync_to_async(client_for)(cast.facilitator), room)
    patient = await _enter(await sync_to_async(client_for)(cast.patient), room)
    await sync_to_async(lambda: CareTeamMember.objects.filter(user=cast.facilitator).delete())()
    await sync_to_async(
        lambda: AuthToken.objects.filter(user=cast.patient).update(revoked_at=timezone.now())
    )()
    # No frame from either: the heartbeat notices on its own.
    assert (await _closed_within(staff))[0] == 4403
    assert (await _closed_within(patient))[0] == 4401
