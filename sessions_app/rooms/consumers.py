"""The live room: one WebSocket per participant at ``/ws/sessions/<id>/?ticket=...``.

Frames, their fields and the close codes are listed in ``protocol`` (and, from it, in
docs/asyncapi.yaml; docs/realtime.md explains them). The consumer is thin: it
parses a frame, checks its fields, calls one service (``tickets``, ``entry``, ``chat``,
``hands``, ``moderation``) or selector, and forwards the frames they broadcast after commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from sessions_app.rooms import (
    chat,
    drain,
    entry,
    fanout,
    hands,
    heartbeat,
    liveness,
    moderation,
    notify,
    protocol,
    selectors,
    threads,
    watchdog,
)
from sessions_app.rooms.models import ParticipantState
from sessions_app.rooms.protocol import (
    BAD_FRAME_WINDOW_SECONDS,
    BAD_FRAMES_ALLOWED,
    CLOSE_POLICY,
    CLOSE_TOO_SLOW,
    CLOSE_TRY_LATER,
    MAX_FRAME_BYTES,
)
from vioip.audit import noise
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.loops import PerLoop
from vioip.core.middleware import (
    audit_context,
    client_address_for_scope,
    current_client_address,
    current_request_id,
)
from vioip.core.parsers import json_problem

logger = logging.getLogger("vioip.rooms")

# Client frame type -> the name of its handler (``frame_<name>``).
CLIENT_FRAMES = {frame_type: frame_type.replace(".", "_") for frame_type in protocol.CLIENT_FRAMES}
STAFF_FRAMES = protocol.STAFF_FRAME_TYPES
# What a patient still in the waiting room may send.
WAITING_FRAMES = protocol.WAITING_FRAME_TYPES
SERVER_FRAMES = set(protocol.SERVER_FRAMES)


class BadFrame(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# Per event loop: the sweeps scheduled after a grace window, by (room, whole second of
# loop time it runs at); holding the task also keeps it from being garbage collected.
_pending_sweeps: PerLoop[dict[tuple[int, int], asyncio.Task[None]]] = PerLoop(lambda loop: {})


def _sweep_later(session_id: int, delay: float) -> None:
    """Sweep the room once ``delay`` has passed, rounded up to the next whole second: the
    sockets of a room that close within the same second share one sweep. A storm that
    closes a room's twenty sockets at once asked for twenty sweeps, and two thousand of
    them due in the same second held the room database threads for over a second while
    chat waited (bench/NOTES.md). A leave is announced at most a second later for it."""
    loop = asyncio.get_running_loop()
    pending = _pending_sweeps.get()
    key = (session_id, math.ceil(loop.time() + delay))
    if key in pending:
        return

    async def sweep() -> None:
        await asyncio.sleep(max(0.0, key[1] - loop.time()))
        try:
            await threads.room_db(entry.room_sweep)(session_id=session_id)
        except Exception as exc:
            # One line, no traceback: tracebacks can carry frame locals with PHI.
            logger.error("room sweep failed session=%s error=%s", session_id, type(exc).__name__)

    # A fresh context: the sweep is the room's, not the audit context of the socket that
    # happened to schedule it.
    pending[key] = loop.create_task(sweep(), context=contextvars.Context())
    pending[key].add_done_callback(lambda _: pending.pop(key, None))


async def _enter(session_id: int, knocks: list[entry.Knock]) -> list[entry.KnockResult]:
    """The sockets waiting at a room's door, let in on an entry thread (``threads.knock``)."""
    return await threads.entry_db(entry.tickets_enter)(session_id=session_id, knocks=knocks)


async def _states(session_id: int, users: list[Any]) -> list[Any]:
    """The first ``room.state`` of the sockets that entered a room together, read on an
    entry thread (``threads.look``)."""
    return await threads.entry_db(selectors.room_states)(session_id=session_id, users=users)


async def _release(releases: list[entry.Release]) -> list[entry.Released]:
    """The sockets closed at once in this process, released on the presence thread
    (``threads.release``)."""
    return await threads.presence_call(entry.socket_releases)(releases=releases)


class RoomConsumer(AsyncJsonWebsocketConsumer):
    # A socket hears the layer through its process's ``fanout``, not through a channel of
    # its own: an alias with no layer behind it, so Channels opens none.
    channel_layer_alias = "vioip.rooms.no-layer"
    # The socket's name in the room's presence and in this process's tables.
    conn: str = ""
    user: Any = None
    # The bearer token the socket's ticket was bound to: the socket lives as long as it.
    token_id: int | None = None
    session_id: int = 0
    # The audit context of this connection (set for its own task; see ``_audit_context``).
    client_address: str = ""
    request_id: str = ""
    # The socket's access ended (credential or relationship): no grace window at close.
    access_ended: bool = False
    is_staff: bool = False
    state: str = ParticipantState.WAITING
    entered: bool = False
    # Closed by the room itself (removal, end): no grace, no second leave.
    closed_by_room: bool = False
    bad_frames: deque[float] | None = None
    backlog: list[dict[str, Any]] | None = None

    @classmethod
    async def encode_json(cls, content: dict[str, Any]) -> str:
        return protocol.encode(content)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its ``aclose_old_connections()`` before every
        message. That call hops to the process's one database thread for each frame a
        socket receives, so a message to a room of twenty queued twenty thread round trips
        behind the database work. Every database call here goes through
        ``database_sync_to_async`` (``threads.room_db``), which closes stale connections
        around the call itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- Connection ----------------------------------------------------------------------

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.conn = uuid.uuid4().hex
        self._find_transport()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        raw = (query.get("ticket") or [""])[0]
        # The audit context of every database call this connection's task makes: context
        # variables set here reach the room threads (``threads.room_db`` copies the context).
        self.client_address = client_address_for_scope(self.scope)
        self.request_id = uuid.uuid4().hex
        current_client_address.set(self.client_address)
        current_request_id.set(self.request_id)
        # Custom close codes need an accepted socket; nothing is sent before the checks.
        await self.accept()
        if drain.draining():
            # This process is stopping: reconnect elsewhere (the ticket is not spent).
            await self.close(code=protocol.CLOSE_LAYER_RESET)
            return
        knock = entry.Knock(
            raw=raw, conn=self.conn, client_address=self.client_address, request_id=self.request_id
        )
        try:
            entered = await threads.knock(self.session_id, knock, _enter)
        except entry.Refused as refused:
            await self.close(code=refused.code)
            return
        except Exception as exc:
            # Presence or the database is unreachable (e.g. Redis restarting): a documented
            # "try again later" instead of an unexplained 1011.
            logger.warning(
                "room entry failed session=%s error=%s", self.session_id, type(exc).__name__
            )
            await self.close(code=CLOSE_TRY_LATER)
            return
        if entered is None:
            await threads.entry_db(self._audit_bad_ticket)()
            await self.close(code=protocol.CLOSE_TICKET)
            return
        bearer, participant = entered.bearer, entered.participant
        user = bearer.user
        self.user = user
        self.token_id = bearer.token_id
        self.is_staff = participant.is_staff
        self.state = participant.state
        self.entered = True
        # Room frames that come while room.state is read wait here, then follow it.
        self.backlog = []
        try:
            # The room's events, and whatever ends this user's access
            # (vioip.core.revocation), reach this socket from now on.
            await fanout.join(self)
        except Exception as exc:
            logger.warning(
                "room subscribe failed session=%s error=%s", self.session_id, type(exc).__name__
            )
            await self.close(code=CLOSE_TRY_LATER)
            await self.disconnect(CLOSE_TRY_LATER)
            return
        await self.send_room_state(entering=True)
        while self.backlog:
            await self._send_room_frame(self.backlog.pop(0))
        self.backlog = None
        heartbeat.join(self)
        watchdog.watch(self)
        if drain.draining():
            # The stop began while this socket was entering: it goes the way of the others.
            await self.close_for_restart()

    async def close_for_restart(self) -> None:
        """Have the client reconnect at once (4012): this process is stopping (``drain``),
        or the layer lost its subscriptions (``watchdog``). Not a leave: the grace window
        keeps the participant's place while they come back, here or to another worker."""
        await self.close(code=protocol.CLOSE_LAYER_RESET)

    def _audit_bad_ticket(self) -> None:
        # Nobody is identified yet: counted per address, at most one event a minute.
        noise.unauthenticated_failure(
            action=Action.ROOM_DENIED,
            client_address=self.client_address,
            object_type="session",
            object_id=self.session_id,
            detail={"reason": "ticket", "close_code": protocol.CLOSE_TICKET},
        )

    def _audit_context(self) -> contextlib.AbstractContextManager[None]:
        """This connection's audit context, for calls made from another task (the
        process's heartbeat)."""
        return audit_context(client_address=self.client_address, request_id=self.request_id)

    # --- Access ----------------------------------------------------------------------------

    async def access_changed(self, event: dict[str, Any]) -> None:
        """``access.changed`` (vioip.core.revocation): something took access away from
        this socket's user somewhere. Re-check against the database; close if it is gone."""
        if not self.entered:
            return
        code = await threads.room_db(selectors.socket_access)(
            session_id=self.session_id, user_id=self.user.pk, token_id=self.token_id
        )
        if code is not None:
            await self._close_for_access(code)

    async def _close_for_access(self, code: int) -> None:
        """Close with 4401 (the credential ended) or 4403 (the relationship ended). The
        person leaves at once (no grace window: there is nothing to come back to)."""
        if not self.entered or self.access_ended:
            return
        self.access_ended = True
        await self.close(code=code)
        try:
            with self._audit_context():
                await threads.room_db(self._audit_access_ended)(code)
        except Exception as exc:
            logger.error(
                "room access close not audited session=%s error=%s",
                self.session_id,
                type(exc).__name__,
            )

    def _audit_access_ended(self, code: int) -> None:
        audit.record(
            action=Action.ROOM_DENIED,
            actor=self.user,
            outcome=Outcome.DENIED,
            object_type="session",
            object_id=self.session_id,
            patient=self.user if not self.is_staff else None,
            detail={"reason": "access_ended", "close_code": code},
        )

    async def disconnect(self, code: int) -> None:
        if not self.entered:
            return
        self.entered = False
        watchdog.unwatch(self)
        heartbeat.leave(self)
        try:
            await fanout.leave(self)
        except Exception as exc:
            # The layer may be down or just reset; leaving the room must still be recorded.
            logger.warning("room group discard failed error=%s", type(exc).__name__)
        release = entry.Release(
            session_id=self.session_id,
            user_id=self.user.pk,
            conn=self.conn,
            final=self.closed_by_room,
            grace=not self.access_ended,
        )
        try:
            released = await threads.release(release, _release)
        except Exception as exc:
            # Presence is unreachable (say Redis restarting): the socket's member expires
            # with its TTL and the sweep takes its person out, as for a dead process.
            logger.warning("room presence release failed error=%s", type(exc).__name__)
            return
        if released.leave_at is not None:
            await threads.room_db(entry.room_leave)(
                session_id=self.session_id, user_id=self.user.pk, left_at=released.leave_at
            )
        elif released.sweep_due:
            _sweep_later(self.session_id, settings.ROOM_GRACE_SECONDS + 0.5)

    async def heartbeat_result(self, beat: liveness.Heartbeat) -> None:
        """What this process's heartbeat (``heartbeat``) learnt about this socket."""
        if not self.entered or self.access_ended:
            return
        if beat.access_ended and beat.close_code is not None:
            await self._close_for_access(beat.close_code)
        elif beat.close_code is not None:
            await self._close_by_room(beat.close_code)
        elif beat.state != self.state:
            await self.send_room_state()

    async def _close_by_room(self, code: int) -> None:
        self.closed_by_room = True
        await self.close(code=code)

    async def send_room_state(self, *, entering: bool = False) -> None:
        if entering:
            frame = await threads.look(self.session_id, self.user, _states)
        else:
            frame = await threads.room_db(selectors.room_state)(
                session_id=self.session_id, user=self.user
            )
        self.state = frame["me"]["state"]
        await self.send_json(frame)

    # --- Incoming frames -----------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if not self.entered or self.access_ended:
            return
        try:
            content = self._parse(text_data, bytes_data)
            frame_type = content["type"]
            if frame_type in STAFF_FRAMES and not self.is_staff:
                await threads.room_db(moderation.moderation_refused)(
                    actor=self.user, session_id=self.session_id, frame=frame_type
                )
                raise protocol.RoomError("forbidden", "Only the session's staff can do this.")
            if (
                not self.is_staff
                and self.state != ParticipantState.ADMITTED
                and frame_type not in WAITING_FRAMES
            ):
                raise protocol.RoomError("not_admitted", "Wait until a facilitator admits you.")
            handler: Callable[[dict[str, Any]], Awaitable[None]] = getattr(
                self, "frame_" + CLIENT_FRAMES[frame_type]
            )
            try:
                fields = protocol.checked_fields(frame_type, content)
            except protocol.FieldInvalid as invalid:
                raise BadFrame("invalid", invalid.detail) from None
            await handler(fields)
        except selectors.AccessEnded as ended:
            await self.send_error(
                "access_ended", "Your access to this room has ended.", content_ref(text_data)
            )
            await self._close_for_access(ended.close_code)
        except BadFrame as bad:
            await self._bad_frame(bad, text_data)
        except protocol.RoomError as refused:
            await self.send_error(refused.code, refused.detail, content_ref(text_data))
        except Exception as exc:
            # The socket stays up; the log gets a reference, never the frame or a traceback.
            ref = uuid.uuid4().hex
            logger.error(
                "room frame failed session=%s ref=%s error=%s",
                self.session_id,
                ref,
                type(exc).__name__,
            )
            await self.send_error("server_error", "Internal error.", ref)

    def _parse(self, text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
        if text_data is None:
            raise BadFrame("binary", "Frames are JSON text; binary frames are not accepted.")
        try:
            size = len(text_data.encode("utf-8"))
        except UnicodeEncodeError:
            # A lone surrogate in the text itself: not UTF-8, so not a text frame.
            raise BadFrame("malformed", "A frame is JSON of valid Unicode text.") from None
        if size > MAX_FRAME_BYTES:
            raise BadFrame("too_large", f"A frame has at most {MAX_FRAME_BYTES} bytes.")
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            # RecursionError: 16 KiB of "[[[[…" nests deeper than the parser recurses.
            raise BadFrame("malformed", "A frame is a JSON object.") from None
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            raise BadFrame("malformed", "A frame is a JSON object with a 'type'.")
        if content["type"] not in CLIENT_FRAMES:
            raise BadFrame("unknown_type", "Unknown frame type.")
        if _has_lone_surrogate(text_data, content):
            # JSON lets "\ud800" through; it is not text, and storing it would fail.
            raise BadFrame("malformed", "A frame is JSON of valid Unicode text.")
        return content

    async def _bad_frame(self, bad: BadFrame, text_data: str | None) -> None:
        now = time.monotonic()
        if self.bad_frames is None:
            # Made on the first bad frame: an empty deque is 0.7 KiB, times every socket.
            self.bad_frames = deque()
        self.bad_frames.append(now)
        while self.bad_frames and self.bad_frames[0] < now - BAD_FRAME_WINDOW_SECONDS:
            self.bad_frames.popleft()
        if len(self.bad_frames) >= BAD_FRAMES_ALLOWED:
            await self.close(code=CLOSE_POLICY)
            return
        await self.send_error(bad.code, bad.detail, content_ref(text_data))

    async def send_error(self, code: str, detail: str, ref: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if ref is not None:
            frame["ref"] = ref
        await self.send_json(frame)

    # --- Handlers: one per client frame type, given its fields checked by ``protocol`` ------

    async def frame_ping(self, content: dict[str, Any]) -> None:
        frame: dict[str, Any] = {"type": "pong"}
        if "ref" in content:
            frame["ref"] = content["ref"]
        await self.send_json(frame)

    async def frame_chat_send(self, content: dict[str, Any]) -> None:
        try:
            sent = await threads.room_db(chat.chat_send)(
                session_id=self.session_id,
                user=self.user,
                token_id=self.token_id,
                client_id=content["client_id"],
                text=content["text"],
            )
        except notify.BroadcastFailed as failed:
            # Stored, so acknowledged: the sender gets it now; the room recovers it from
            # history. Not silence, and not an error for a message that was kept.
            await self.send_json({"type": "chat.message", **failed.result.message})
            return
        if not sent.created:
            # A resend: the sender gets the stored original; the room saw it already.
            await self.send_json({"type": "chat.message", **sent.message})

    async def frame_chat_history(self, content: dict[str, Any]) -> None:
        after_seq = content["after_seq"]
        messages, has_more = await threads.room_db(selectors.chat_after)(
            session_id=self.session_id,
            after_seq=after_seq,
            user_id=self.user.pk,
            token_id=self.token_id,
        )
        await self.send_json(
            {
                "type": "chat.history",
                "messages": messages,
                "has_more": has_more,
            }
        )

    async def frame_hand_raise(self, content: dict[str, Any]) -> None:
        await threads.room_db(hands.hand_set)(
            session_id=self.session_id, user=self.user, token_id=self.token_id, raised=True
        )

    async def frame_hand_lower(self, content: dict[str, Any]) -> None:
        await threads.room_db(hands.hand_set)(
            session_id=self.session_id, user=self.user, token_id=self.token_id, raised=False
        )

    async def frame_waiting_admit(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.participant_admit)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            user_id=content["user_id"],
        )

    async def frame_participant_mute(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.participant_set_muted)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            user_id=content["user_id"],
            muted=True,
        )

    async def frame_participant_unmute(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.participant_set_muted)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            user_id=content["user_id"],
            muted=False,
        )

    async def frame_participant_remove(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.participant_remove)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            user_id=content["user_id"],
        )

    async def frame_participant_step_out(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.participant_step_out)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            user_id=content["user_id"],
        )

    async def frame_room_lock(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.room_set_locked)(
            session_id=self.session_id, actor=self.user, token_id=self.token_id, locked=True
        )

    async def frame_room_unlock(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.room_set_locked)(
            session_id=self.session_id, actor=self.user, token_id=self.token_id, locked=False
        )

    async def frame_chat_delete(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.chat_delete)(
            session_id=self.session_id,
            actor=self.user,
            token_id=self.token_id,
            seq=content["seq"],
        )

    async def frame_session_end(self, content: dict[str, Any]) -> None:
        await threads.room_db(moderation.session_end)(
            session_id=self.session_id, actor=self.user, token_id=self.token_id
        )

    # --- Events from the channel layer -----------------------------------------------------

    def _audiences(self) -> tuple[str, ...]:
        """The audiences this socket belongs to, most specific first."""
        if self.is_staff:
            return (notify.STAFF, notify.ADMITTED, notify.ALL)
        if self.state == ParticipantState.ADMITTED:
            return (notify.PATIENTS, notify.ADMITTED, notify.ALL)
        return (notify.ALL,)

    async def room_event(self, event: dict[str, Any]) -> None:
        """An event of this socket's room, handed over by the process's ``fanout``."""
        if event["type"] == "room.frame":
            await self.room_frame(event)
        elif event["type"] == "room.control":
            await self.room_control(event)

    async def room_frame(self, event: dict[str, Any]) -> None:
        if self.backlog is not None:
            self.backlog.append(event)
            return
        await self._send_room_frame(event)

    async def _send_room_frame(self, event: dict[str, Any]) -> None:
        if not self.entered or self.too_slow or self.access_ended:
            return
        texts = event["texts"]
        for audience in self._audiences():
            if audience in texts:
                if await self._over_send_bound():
                    return
                await self.send(text_data=texts[audience])
                return

    # --- The outbound buffer bound ---------------------------------------------------------

    too_slow: bool = False
    _transport: Any = None

    def _find_transport(self) -> None:
        """The network transport under this socket, when the server is daphne (Twisted);
        None elsewhere, and then only the server's own limits apply. Daphne hands the
        application ``partial(handle_reply, protocol)`` as its send callable."""
        args = getattr(self.base_send, "args", ())
        transport = getattr(args[0], "transport", None) if args else None
        # Twisted's FileDescriptor keeps unwritten bytes in these two buffers.
        if hasattr(transport, "_tempDataLen") and hasattr(transport, "dataBuffer"):
            self._transport = transport

    def _pending_bytes(self) -> int:
        transport = self._transport
        if transport is None:
            return 0
        return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)

    async def _over_send_bound(self) -> bool:
        """A client that stops reading must not make the server hold the room's traffic
        for it without limit: past the bound it is closed (4408) and its frames dropped;
        it recovers with ``chat.history`` after reconnecting."""
        pending = self._pending_bytes()
        if pending <= settings.ROOM_SEND_BUFFER_KIB * 1024:
            return False
        self.too_slow = True
        logger.warning(
            "room socket not reading session=%s pending_bytes=%d", self.session_id, pending
        )
        await self.close(code=CLOSE_TOO_SLOW)
        # The close frame waits behind the unread bytes: drop the connection now, so the
        # buffer is freed (the client sees an abnormal closure once it reads that far).
        self._transport.abortConnection()
        return True

    async def room_control(self, event: dict[str, Any]) -> None:
        if not self.entered or self.access_ended:
            return
        if event["action"] == "close":
            await self._close_by_room(int(event["code"]))
        elif event["action"] == "refresh":
            await self.send_room_state()


def _has_lone_surrogate(text_data: str, content: dict[str, Any]) -> bool:
    """Whether the frame escapes a surrogate that is not half of a pair. Only a frame with
    a ``\\u`` escape is walked (the HTTP parser's check, ``json_problem``); a frame's size
    bounds its depth, so no depth limit is added here."""
    if "\\u" not in text_data and "\\U" not in text_data:
        return False
    return json_problem(content, max_depth=MAX_FRAME_BYTES) is not None


def content_ref(text_data: str | None) -> str | None:
    """The client's own ``ref`` echoed on errors, so it can match them to its frames."""
    if not text_data or len(text_data) > MAX_FRAME_BYTES:
        return None
    try:
        content = json.loads(text_data)
    except (ValueError, RecursionError):
        return None
    ref = content.get("ref") if isinstance(content, dict) else None
    if not isinstance(ref, str) or len(ref) > protocol.REF_MAX_CHARS:
        return None
    try:
        ref.encode("utf-8")  # a lone surrogate is not text to echo
    except UnicodeEncodeError:
        return None
    return ref
