"""Two real daphne processes on PostgreSQL and Redis share one room.

Needs ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``; skipped without them, but with
``CI`` set a configured service that cannot be reached is a failure, not a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from sessions_app.rooms.models import AttendanceSegment, ChatMessage
from tests.rooms.servers import Daphne, daphne_env, free_port, http
from vioip.accounts.tokens import token_issue

PRESENCE_TTL = 5
GRACE = 1


def _services_or_skip() -> None:
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not redis_url:
        pytest.skip("needs DATABASE_URL on PostgreSQL and REDIS_URL")
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
        connection.ensure_connection()
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL or Redis is configured but unreachable: {exc}")
        pytest.skip(f"PostgreSQL or Redis unreachable: {exc}")


pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphnes(tmp_path: Path) -> Iterator[tuple[Daphne, Daphne]]:
    _services_or_skip()
    # The daphnes use this test's own database, so they see what the test creates.
    env = daphne_env(
        tmp_path,
        REDIS_URL=os.environ["REDIS_URL"],
        VIOIP_ROOM_PRESENCE_TTL_SECONDS=str(PRESENCE_TTL),
        VIOIP_ROOM_GRACE_SECONDS=str(GRACE),
        VIOIP_ROOM_CHAT_RATE_MESSAGES="1000",
    )
    started = [Daphne(free_port(), env, tmp_path / f"daphne{n}.log") for n in (1, 2)]
    try:
        for daphne in started:
            daphne.wait_ready()
        yield started[0], started[1]
    finally:
        for daphne in started:
            daphne.stop()


def _post_json(url: str, token: str) -> Any:
    request = urllib.request.Request(  # noqa: S310
        url, method="POST", headers={"Authorization": f"Bearer {token}"}, data=b""
    )
    with http.open(request, timeout=10) as response:
        return json.loads(response.read())


class Client:
    """A participant's socket on one daphne, reading frames in the background."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for text in self.ws:
                await self.frames.put(json.loads(text))

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def expect(self, frame_type: str, timeout: float = 10, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frames.get()
                if frame["type"] != frame_type:
                    continue
                about = frame.get("participant", frame)
                if all(about.get(k) == v for k, v in match.items()):
                    return frame

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def _connect(daphne: Daphne, user: Any, session: Any) -> Client:
    from websockets.asyncio.client import connect

    token = await sync_to_async(lambda: token_issue(user=user).raw)()
    ticket = await asyncio.to_thread(
        _post_json, f"{daphne.http}/api/sessions/{session.pk}/ticket/", token
    )
    ws = await connect(
        f"ws://127.0.0.1:{daphne.port}/ws/sessions/{session.pk}/?ticket={ticket['ticket']}",
        origin=f"http://127.0.0.1:{daphne.port}",  # type: ignore[arg-type]
        proxy=None,
        compression=None,
    )
    return Client(ws)


def _chat(text: str, client_id: str | None = None) -> dict[str, Any]:
    return {"type": "chat.send", "client_id": client_id or str(uuid.uuid4()), "text": text}


def _another_patient(cohort: Any) -> Any:
    from tests.factories import EnrollmentFactory, UserFactory

    user = UserFactory(username="casey", role="patient", first_name="Casey")
    EnrollmentFactory(cohort=cohort, patient=user)
    return user


def _clear_presence(session_id: int) -> None:
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).delete(f"vioip:room:{session_id}:presence")


async def test_two_daphne_processes_share_one_room(
    daphnes: tuple[Daphne, Daphne], cast: Any, live_session: Any
):
    first, second = daphnes
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    await asyncio.to_thread(_clear_presence, live_session.pk)

    staff = await _connect(first, cast.facilitator, live_session)
    assert (await staff.expect("room.state"))["me"]["state"] == "admitted"
    patient = await _connect(second, cast.patient, live_session)
    await patient.expect("room.state")

    # Presence and chat cross processes.
    await staff.expect("presence.joined", user_id=cast.patient.pk)
    await patient.send(_chat("hello from the second process"))
    received = await staff.expect("chat.message")
    assert received["text"] == "hello from the second process"

    # A resend with the same client_id, even through the other process, is stored once.
    retry_id = str(uuid.uuid4())
    await patient.send(_chat("only once", retry_id))
    original = await patient.expect("chat.message", client_id=retry_id)
    second_tab = await _connect(first, cast.patient, live_session)
    await second_tab.expect("room.state")
    await second_tab.send(_chat("only once", retry_id))
    assert (await second_tab.expect("chat.message", client_id=retry_id))["seq"] == original["seq"]
    await second_tab.close()

    # Moderation crosses processes: staff on the first removes a patient on the second.
    casey = await sync_to_async(_another_patient)(cast.cohort)
    removed = await _connect(second, casey, live_session)
    await removed.expect("room.state")
    await staff.expect("presence.joined", user_id=casey.pk)
    await staff.send({"type": "participant.remove", "user_id": casey.pk})
    await asyncio.wait_for(removed.reader, timeout=10)
    assert removed.ws.close_code == 4403
    await staff.expect("presence.left", user_id=casey.pk)

    # Concurrent senders on both processes get gapless, unique seq numbers.
    await asyncio.gather(
        *(staff.send(_chat(f"staff {n}")) for n in range(15)),
        *(patient.send(_chat(f"patient {n}")) for n in range(15)),
    )

    def stored_seqs() -> list[int]:
        return list(
            ChatMessage.objects.filter(session=live_session)
            .order_by("seq")
            .values_list("seq", flat=True)
        )

    async with asyncio.timeout(20):
        while len(await sync_to_async(stored_seqs)()) < 32:
            await asyncio.sleep(0.1)
    assert await sync_to_async(stored_seqs)() == list(range(1, 33))
    last_seen = 32

    # Kill the second process: its participant leaves the first's presence within the
    # expiry, and their attendance stretch is closed.
    os.kill(second.process.pid, signal.SIGKILL)
    second.process.wait()
    killed_at = time.monotonic()
    await staff.expect("presence.left", timeout=PRESENCE_TTL * 4, user_id=cast.patient.pk)
    # The promise is the TTL from the last renewal (docs/realtime.md); a second of slack for
    # a loaded machine. Renewing for the whole TTL and sweeping every third of it took up to
    # a third longer.
    assert time.monotonic() - killed_at < PRESENCE_TTL + 1

    def open_segments() -> int:
        return AttendanceSegment.objects.filter(
            session=live_session, user=cast.patient, left_at__isnull=True
        ).count()

    assert await sync_to_async(open_segments)() == 0

    # Messages sent while the patient is away are recovered from history on reconnect.
    for n in range(3):
        await staff.send(_chat(f"while you were away {n}"))
    back = await _connect(first, cast.patient, live_session)
    await back.expect("room.state")
    await back.send({"type": "chat.history", "after_seq": last_seen})
    history = await back.expect("chat.history")
    assert [m["text"] for m in history["messages"]] == [
        f"while you were away {n}" for n in range(3)
    ]
    assert [m["seq"] for m in history["messages"]] == [33, 34, 35]
    await back.close()
    await staff.close()
    await patient.close()


# --- Access ends everywhere: the socket on one process, the revocation on the other -------


def _call(daphne: Daphne, method: str, path: str, token: str, body: Any = None) -> int:
    data = json.dumps(body).encode() if body is not None else b""
    request = urllib.request.Request(  # noqa: S310
        f"{daphne.http}{path}",
        method=method,
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with http.open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def _connect_as(daphne: Daphne, token: str, session: Any) -> Client:
    from websockets.asyncio.client import connect

    ticket = await asyncio.to_thread(
        _post_json, f"{daphne.http}/api/sessions/{session.pk}/ticket/", token
    )
    ws = await connect(
        f"ws://127.0.0.1:{daphne.port}/ws/sessions/{session.pk}/?ticket={ticket['ticket']}",
        origin=f"http://127.0.0.1:{daphne.port}",  # type: ignore[arg-type]
        proxy=None,
        compression=None,
    )
    return Client(ws)


def _people(cohort: Any, n: int) -> dict[str, Any]:
    """A fresh patient, facilitator and clinician of ``cohort`` for one revocation path."""
    from tests.factories import CareTeamFactory, EnrollmentFactory, UserFactory

    patient = UserFactory(username=f"p{n}", role="patient", first_name="Pat")
    EnrollmentFactory(cohort=cohort, patient=patient)
    facilitator = UserFactory(username=f"f{n}", role="facilitator")
    CareTeamFactory(cohort=cohort, user=facilitator, role="facilitator")
    clinician = UserFactory(username=f"c{n}", role="clinician")
    CareTeamFactory(cohort=cohort, user=clinician, role="clinician")
    return {"patient": patient, "facilitator": facilitator, "clinician": clinician}


def _revocations(cohort: Any) -> list[tuple[str, str, int, Any]]:
    """(name, subject, close code, request(admin_token, own_token, user) → (method, path,
    body, token))."""
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from groups.models import Enrollment

    today = timezone.now().astimezone(ZoneInfo(cohort.timezone)).date().isoformat()

    def discharge(admin: str, own: str, user: Any) -> tuple[str, str, Any, str]:
        enrollment = Enrollment.objects.get(cohort=cohort, patient=user)
        body = {
            "reason": "completed",
            "discharged_on": today,
            "aftercare": {"level": "weekly_outpatient", "notes": ""},
        }
        path = f"/api/cohorts/{cohort.pk}/enrollments/{enrollment.pk}/discharge/"
        return "POST", path, body, admin

    return [
        ("logout", "patient", 4401, lambda a, o, u: ("POST", "/api/auth/logout/", None, o)),
        (
            "deactivation",
            "patient",
            4401,
            lambda a, o, u: ("PATCH", f"/api/users/{u.pk}/", {"is_active": False}, a),
        ),
        (
            "password_change",
            "clinician",
            4401,
            lambda a, o, u: ("PATCH", f"/api/users/{u.pk}/", {"password": "A new one 2026!x"}, a),
        ),
        (
            "role_change",
            "clinician",
            4403,
            lambda a, o, u: ("PATCH", f"/api/users/{u.pk}/", {"role": "facilitator"}, a),
        ),
        ("discharge", "patient", 4403, discharge),
        (
            "care_team_removal",
            "facilitator",
            4403,
            lambda a, o, u: ("DELETE", f"/api/cohorts/{cohort.pk}/staff/{u.pk}/", None, a),
        ),
        (
            "logout_everywhere",
            "facilitator",
            4401,
            lambda a, o, u: ("POST", "/api/auth/logout-everywhere/", None, o),
        ),
    ]


async def test_access_ends_on_the_other_process_within_five_seconds(
    daphnes: tuple[Daphne, Daphne], cast: Any, live_session: Any
):
    first, second = daphnes
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    await asyncio.to_thread(_clear_presence, live_session.pk)
    admin = await sync_to_async(lambda: token_issue(user=cast.admin).raw)()
    # A staff member who keeps access watches the room from the first process.
    watcher = await _connect(first, cast.facilitator, live_session)
    await watcher.expect("room.state")

    revocations = await sync_to_async(_revocations)(cast.cohort)
    for n, (name, role, code, revoke) in enumerate(revocations):
        people = await sync_to_async(_people)(cast.cohort, n)
        user = people[role]
        own = await sync_to_async(lambda u=user: token_issue(user=u).raw)()
        socket = await _connect_as(second, own, live_session)
        assert (await socket.expect("room.state"))["me"]["state"] == "admitted", name

        method, path, body, token = await sync_to_async(revoke)(admin, own, user)
        status = await asyncio.to_thread(_call, first, method, path, token, body)
        if name == "logout_everywhere" and status == 404:
            pytest.skip("POST /api/auth/logout-everywhere/ is not there yet")
        assert status in (200, 204), (name, status)
        revoked_at = time.monotonic()
        late = str(uuid.uuid4())
        with contextlib.suppress(Exception):
            await socket.send(_chat("after the end", late))
        await asyncio.wait_for(socket.reader, timeout=5)
        assert time.monotonic() - revoked_at < 5, name
        assert socket.ws.close_code == code, (name, socket.ws.close_code)

        # Not stored, not broadcast: the watcher's next frame about chat is not it.
        stored = await sync_to_async(
            lambda c=late: ChatMessage.objects.filter(client_id=c).exists()
        )()
        assert not stored, name
        assert all(
            frame.get("client_id") != late
            for frame in list(watcher.frames._queue)  # type: ignore[attr-defined]
        )
        # Entry is refused afterwards: no ticket with the old token (4401) or for the
        # person (4403), on either process.
        fresh = await sync_to_async(lambda u=user: token_issue(user=u).raw)()
        for daphne in (first, second):
            path = f"/api/sessions/{live_session.pk}/ticket/"
            if code == 4401:
                assert await asyncio.to_thread(_call, daphne, "POST", path, own) == 401, name
            else:
                assert await asyncio.to_thread(_call, daphne, "POST", path, fresh) == 404, name

    # The audit context set by the consumer reaches the room thread pool (two threads on
    # PostgreSQL): each socket's joins and access closes carry its address and request id.
    from vioip.audit.models import AuditEvent

    def room_events() -> list[AuditEvent]:
        return list(
            AuditEvent.objects.filter(
                action__in=["room_join", "room_denied"], actor__username__regex=r"^[pfc]\d$"
            )
        )

    events = await sync_to_async(room_events)()
    closes = [e for e in events if e.detail.get("reason") == "access_ended"]
    assert len(closes) == len(revocations)
    assert all(e.client_address == "127.0.0.1" and e.request_id for e in events)
    for close in closes:
        join = next(e for e in events if e.action == "room_join" and e.actor_id == close.actor_id)
        assert join.request_id == close.request_id

    # The watcher kept its place throughout.
    await watcher.send(_chat("still here"))
    assert (await watcher.expect("chat.message"))["text"] == "still here"
    await watcher.close()


# --- Subscriptions: one per room per process, none per socket --------------------------------


def _subscriptions() -> list[bytes]:
    import redis

    return list(redis.Redis.from_url(os.environ["REDIS_URL"]).pubsub_channels())


async def test_sockets_coming_and_going_subscribe_nothing_of_their_own(
    daphnes: tuple[Daphne, Daphne], cast: Any, live_session: Any
):
    """A socket's entry and exit make no subscription of their own: the process listens
    to the room's group once, and to one access group for every user. A storm of
    reconnects then does not queue behind a subscribe and unsubscribe per socket."""
    first, _ = daphnes
    live_session.waiting_room = False
    await sync_to_async(live_session.save)()
    await asyncio.to_thread(_clear_presence, live_session.pk)
    staff = await _connect(first, cast.facilitator, live_session)
    await staff.expect("room.state")
    before = await asyncio.to_thread(_subscriptions)
    assert any(b"room." + str(live_session.pk).encode() in name for name in before)

    casey = await sync_to_async(_another_patient)(cast.cohort)
    others = [
        await _connect(first, user, live_session)
        for user in (cast.patient, cast.patient, casey, cast.clinician)
    ]
    for other in others:
        await other.expect("room.state")
    assert sorted(await asyncio.to_thread(_subscriptions)) == sorted(before)

    # Events meant for one person still reach only that person's sockets, on every tab.
    await staff.send({"type": "participant.remove", "user_id": cast.patient.pk})
    for tab in others[:2]:
        await asyncio.wait_for(tab.reader, timeout=10)
        assert tab.ws.close_code == 4403
    await staff.expect("presence.left", user_id=cast.patient.pk)
    for other in others[2:]:
        await other.send(_chat("still here"))
        await other.expect("chat.message", text="still here")
        await other.close()
    await asyncio.sleep(0.5)
    assert sorted(await asyncio.to_thread(_subscriptions)) == sorted(before)
    await staff.close()
