"""The room protocol: the one list of every frame, its fields, the error codes and the
close codes of ``/ws/sessions/<id>/``.

The consumer dispatches and checks client frames from here, the room's writes (``entry``,
``chat``, ``moderation``, ...) refuse frames and close sockets with the codes named here, as
the watchdog does, and ``docs/asyncapi.yaml`` is generated from it
(``python manage.py asyncapi``; a test fails when the committed file differs). A frame,
field or code added anywhere else is drift: add it here first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.serializers.json import DjangoJSONEncoder

from sessions_app.models import SessionKind, SessionStatus
from sessions_app.rooms.models import ParticipantState
from vioip.accounts.models import Role

PATH = "/ws/sessions/{session_id}/"
# The protocol's version in docs/asyncapi.yaml: the major part moves when a client written
# for the previous one would break (a frame or field removed or changed), the minor part
# when something is added.
VERSION = "1.0.0"

# Limits of client frames.
MAX_FRAME_BYTES = 16 * 1024
REF_MAX_CHARS = 64
CHAT_TEXT_MAX_CHARS = 2000
BAD_FRAMES_ALLOWED = 20
BAD_FRAME_WINDOW_SECONDS = 60

# --- Close codes ------------------------------------------------------------------------
# Daphne (autobahn) sends only 1000 and 3000-4999: the codes "like" a 1xxx code are 4xxx
# with the same last digits, since a 1008 there turns into an unexplained 1011.

CLOSE_TICKET = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_ENDED = 4410
CLOSE_LOCKED = 4423
CLOSE_POLICY = 4008
CLOSE_LAYER_RESET = 4012
CLOSE_TRY_LATER = 4013
CLOSE_TOO_SLOW = 4408


@dataclass(frozen=True)
class CloseCode:
    code: int
    name: str
    # What happened, in a sentence a client can show.
    meaning: str
    # What the client should do.
    action: str
    retry: bool


CLOSE_CODES: dict[int, CloseCode] = {
    c.code: c
    for c in (
        CloseCode(
            CLOSE_TICKET,
            "credential_ended",
            "Your sign-in for this room is not valid: the ticket is missing, unknown, used, "
            "expired or for another session, or your sign-in ended while you were in the "
            "room (logged out, password changed, account deactivated).",
            "Log in again if needed, get a new ticket and reconnect.",
            retry=True,
        ),
        CloseCode(
            CLOSE_FORBIDDEN,
            "not_allowed",
            "You are not allowed in this room: not on the care team or enrolled, outside "
            "the session's time, removed from this session, or your access to this cohort "
            "ended (care-team removal, role change, discharge).",
            "Do not retry.",
            retry=False,
        ),
        CloseCode(
            CLOSE_ENDED,
            "session_ended",
            "The session has ended or was cancelled.",
            "Do not retry.",
            retry=False,
        ),
        CloseCode(
            CLOSE_LOCKED,
            "room_locked",
            "The room is locked and you were not admitted before it was locked.",
            "Retry later.",
            retry=True,
        ),
        CloseCode(
            CLOSE_POLICY,
            "bad_frames",
            f"Too many bad frames: {BAD_FRAMES_ALLOWED} within {BAD_FRAME_WINDOW_SECONDS} "
            "seconds (like 1008, policy violation).",
            "Fix the client.",
            retry=False,
        ),
        CloseCode(
            CLOSE_LAYER_RESET,
            "server_restarting",
            "The server is restarting (like 1012, service restart): the process serving "
            "this socket is stopping, or its message relay stopped delivering and was "
            "reset. Your place in the room is kept for the grace window.",
            "Get a new ticket, reconnect, and send chat.history with the last seq you saw.",
            retry=True,
        ),
        CloseCode(
            CLOSE_TRY_LATER,
            "try_again_later",
            "The room is unreachable right now (like 1013, try again later).",
            "Reconnect after a pause, with backoff.",
            retry=True,
        ),
        CloseCode(
            CLOSE_TOO_SLOW,
            "too_slow",
            "Your connection stopped reading and too many frames waited for it. The "
            "server drops the connection at once, so a client that was not reading sees an "
            "abnormal closure (1006) rather than this code. Your place is kept for the "
            "grace window.",
            "Read frames as they come; reconnect with a new ticket and send chat.history "
            "with the last seq you saw.",
            retry=True,
        ),
        CloseCode(1000, "normal", "Normal closure.", "Nothing.", retry=False),
        CloseCode(1001, "going_away", "The other side went away.", "Nothing.", retry=False),
    )
}

# --- Error codes of ``error`` frames ------------------------------------------------------


@dataclass(frozen=True)
class ErrorCode:
    code: str
    cause: str
    # Counted toward BAD_FRAMES_ALLOWED when the frame's own shape is at fault.
    bad_frame: bool = False


ERROR_CODES: dict[str, ErrorCode] = {
    e.code: e
    for e in (
        ErrorCode(
            "malformed",
            "Not JSON, not an object, no string type, not valid Unicode text (a lone "
            "surrogate such as \\ud800, even escaped), or nested deeper than the parser goes.",
            bad_frame=True,
        ),
        ErrorCode("unknown_type", "A type this protocol does not list.", bad_frame=True),
        ErrorCode(
            "invalid",
            "A field is missing or has the wrong type or value. Counted as a bad frame "
            "when the field's type or format is wrong, not when the room refuses its value "
            "(an empty message, moderating staff).",
            bad_frame=True,
        ),
        ErrorCode("too_large", f"The frame exceeds {MAX_FRAME_BYTES} bytes.", bad_frame=True),
        ErrorCode("binary", "A binary frame; frames are JSON text.", bad_frame=True),
        ErrorCode("forbidden", "A staff frame from a patient, or the sender is not in the room."),
        ErrorCode("not_admitted", "A patient in the waiting room sent something other than ping."),
        ErrorCode("muted", "A muted patient sent chat.send."),
        ErrorCode(
            "rate_limited", "Too many messages or hand changes; nothing was stored or changed."
        ),
        ErrorCode("chat_disabled", "Chat is off in this room."),
        ErrorCode("not_found", "No such participant or message."),
        ErrorCode(
            "access_ended",
            f"The sender's access ended; nothing was done and the socket closes with "
            f"{CLOSE_TICKET} or {CLOSE_FORBIDDEN}.",
        ),
        ErrorCode(
            "server_error",
            "An unexpected failure; ref is then the server's log reference to quote.",
        ),
    )
}


class RoomError(Exception):
    """A frame that is refused: answered with an ``error`` frame, nothing changes."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# --- Fields -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    name: str
    # A JSON Schema type ("string", "integer", "boolean", "array"), or "object" with
    # ``shape`` naming one of SHAPES.
    type: str
    description: str
    required: bool = True
    minimum: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    # "uuid", "date-time".
    format: str | None = None
    enum: tuple[str, ...] | None = None
    nullable: bool = False
    # The shape of an object, or of an array's items.
    shape: str | None = None
    # The lengths apply once stripped and are the room's to judge (error ``invalid``, not a
    # bad frame); the frame check refuses only a text far past them.
    stripped: bool = False

    def json_schema(self) -> dict[str, Any]:
        """This field's JSON Schema (draft 7, as AsyncAPI's default schema format)."""
        if self.shape is not None:
            ref = {"$ref": f"#/components/schemas/{self.shape}"}
            schema: dict[str, Any] = (
                {"type": "array", "items": ref} if self.type == "array" else dict(ref)
            )
            if self.description:
                # Siblings of $ref are ignored in draft 7: wrap it.
                schema = {"description": self.description, "allOf": [schema]}
            return schema
        schema = {"type": [self.type, "null"] if self.nullable else self.type}
        if self.description:
            schema["description"] = self.description
        for key, value in (
            ("format", self.format),
            ("minimum", self.minimum),
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
        ):
            if value is not None:
                schema[key] = value
        if self.enum is not None:
            schema["enum"] = list(self.enum) + ([None] if self.nullable else [])
        return schema


def object_schema(fields: tuple[Field, ...], *, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = {f.name: f.json_schema() for f in fields}
    required = [f.name for f in fields if f.required]
    if required:
        schema["required"] = required
    return schema


def _user_id(description: str) -> Field:
    return Field("user_id", "integer", description, minimum=0)


# Any client frame may carry it; ``ping`` is the one that is answered with it.
REF = Field(
    "ref",
    "string",
    "The client's own reference: echoed on the pong, and on an error this frame causes, "
    f"when it is a string of at most {REF_MAX_CHARS} characters.",
    required=False,
    max_length=REF_MAX_CHARS,
)

_ROLE = Field(
    "role",
    "string",
    "The person's role now (a message keeps its sender's current role).",
    enum=tuple(r.value for r in Role),
)
_DISPLAY_NAME = Field(
    "display_name", "string", "First name and last initial for patients; full name for staff."
)

# Records that several frames carry.
SHAPES: dict[str, tuple[Field, ...]] = {
    "participant": (
        _user_id("The person."),
        _DISPLAY_NAME,
        _ROLE,
        Field(
            "state",
            "string",
            "In the waiting room, or admitted. Staff are always admitted.",
            enum=tuple(s.value for s in ParticipantState),
        ),
        Field("muted", "boolean", "Muted by staff: chat.send is refused."),
        Field("hand_raised", "boolean", "The hand is raised."),
    ),
    "sender": (_user_id("The sender."), _DISPLAY_NAME, _ROLE),
    "message": (
        Field("seq", "integer", "The room's sequence number: gapless, increasing.", minimum=1),
        Field("id", "integer", "The stored message's id.", minimum=1),
        Field("client_id", "string", "The sender's id for the message.", format="uuid"),
        Field("sender", "object", "Who sent it.", shape="sender"),
        Field("text", "string", "The text; null once deleted.", nullable=True),
        Field("deleted", "boolean", "Hidden by staff; it keeps its seq."),
        Field("sent_at", "string", "When it was stored.", format="date-time"),
    ),
    "session": (
        Field("id", "integer", "The session.", minimum=1),
        Field("title", "string", "The session's title."),
        Field("kind", "string", "The kind of session.", enum=tuple(k.value for k in SessionKind)),
        Field("status", "string", "Its status.", enum=tuple(s.value for s in SessionStatus)),
        Field("starts_at", "string", "The scheduled start.", format="date-time"),
        Field("ends_at", "string", "The scheduled end.", format="date-time"),
    ),
    "room": (
        Field("locked", "boolean", "Patients not admitted before are refused (4423)."),
        Field("chat_enabled", "boolean", "Chat is on."),
        Field("waiting_room", "boolean", "Patients wait to be admitted."),
    ),
}

# --- Frames -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientFrame:
    type: str
    summary: str
    fields: tuple[Field, ...] = ()
    # Refused with ``forbidden`` (and audited) from a patient.
    staff_only: bool = False
    # Allowed from a patient still in the waiting room.
    while_waiting: bool = False


@dataclass(frozen=True)
class ServerFrame:
    type: str
    summary: str
    fields: tuple[Field, ...] = ()


_MODERATED = _user_id("The patient.")

CLIENT_FRAMES: dict[str, ClientFrame] = {
    f.type: f
    for f in (
        ClientFrame(
            "ping",
            "Answered with pong; frames are answered in order, so the pong with this ref "
            "comes after the answers to every earlier frame.",
            (REF,),
            while_waiting=True,
        ),
        ClientFrame(
            "chat.send",
            "Send a chat message: stored with the room's next seq, then broadcast as "
            "chat.message. A resend of the same client_id returns the stored original.",
            (
                Field(
                    "client_id",
                    "string",
                    "The client's id for the message: a resend with it stores nothing.",
                    format="uuid",
                ),
                Field(
                    "text",
                    "string",
                    f"The text: 1 to {CHAT_TEXT_MAX_CHARS} characters once stripped.",
                    min_length=1,
                    max_length=CHAT_TEXT_MAX_CHARS,
                    stripped=True,
                ),
            ),
        ),
        ClientFrame(
            "chat.history",
            "Ask for the messages after a seq (answered with chat.history).",
            (Field("after_seq", "integer", "The last seq the client has (0: all).", minimum=0),),
        ),
        ClientFrame("hand.raise", "Raise the hand (rate-limited with hand.lower)."),
        ClientFrame("hand.lower", "Lower the hand."),
        ClientFrame("waiting.admit", "Admit a waiting patient.", (_MODERATED,), staff_only=True),
        ClientFrame(
            "participant.mute",
            "Mute a patient: their chat.send gets error muted.",
            (_MODERATED,),
            staff_only=True,
        ),
        ClientFrame("participant.unmute", "Unmute a patient.", (_MODERATED,), staff_only=True),
        ClientFrame(
            "participant.remove",
            f"Remove a patient from the session: their sockets close with {CLOSE_FORBIDDEN} "
            "and they cannot enter it again.",
            (_MODERATED,),
            staff_only=True,
        ),
        ClientFrame(
            "participant.step_out",
            "Send a patient back to the waiting room for a private check-in.",
            (_MODERATED,),
            staff_only=True,
        ),
        ClientFrame(
            "room.lock",
            f"Lock the room: patients not admitted before are refused with {CLOSE_LOCKED}.",
            staff_only=True,
        ),
        ClientFrame("room.unlock", "Unlock the room.", staff_only=True),
        ClientFrame(
            "chat.delete",
            "Hide a message for everyone; the stored row is kept, marked deleted.",
            (Field("seq", "integer", "The message's seq.", minimum=1),),
            staff_only=True,
        ),
        ClientFrame(
            "session.end",
            f"End the session: every socket gets session.ended and closes with {CLOSE_ENDED}.",
            staff_only=True,
        ),
    )
}

_MESSAGES = Field("messages", "array", "Messages in seq order.", shape="message")

SERVER_FRAMES: dict[str, ServerFrame] = {
    f.type: f
    for f in (
        ServerFrame(
            "room.state",
            "The first frame, and again whenever the participant's own state changes. A "
            "patient still waiting gets no participants, messages or last_seq.",
            (
                Field("session", "object", "The session.", shape="session"),
                Field("me", "object", "The receiver's own record.", shape="participant"),
                Field("room", "object", "The room's flags.", shape="room"),
                Field(
                    "participants",
                    "array",
                    "Who is in the room (staff also see the waiting room).",
                    required=False,
                    shape="participant",
                ),
                Field(
                    "messages",
                    "array",
                    "The latest messages in seq order (at most 50 and 256 KiB).",
                    required=False,
                    shape="message",
                ),
                Field("last_seq", "integer", "The room's last seq.", required=False, minimum=0),
            ),
        ),
        ServerFrame(
            "presence.joined",
            "Someone became visible to the receiver; upsert by user_id.",
            (Field("participant", "object", "The participant.", shape="participant"),),
        ),
        ServerFrame(
            "presence.left",
            "Someone left (or is no longer visible to the receiver).",
            (_user_id("Who left."),),
        ),
        ServerFrame(
            "presence.updated",
            "A participant's record changed.",
            (Field("participant", "object", "The full new record.", shape="participant"),),
        ),
        ServerFrame(
            "chat.message",
            "A stored message; drop a seq you already have.",
            SHAPES["message"],
        ),
        ServerFrame(
            "chat.deleted",
            "A message was hidden by staff.",
            (Field("seq", "integer", "The message's seq.", minimum=1),),
        ),
        ServerFrame(
            "chat.history",
            "The answer to chat.history: at most 500 messages and 256 KiB of them.",
            (
                _MESSAGES,
                Field("has_more", "boolean", "Ask again from the last seq for the rest."),
            ),
        ),
        ServerFrame(
            "room.updated",
            "The room's flags changed.",
            (Field("room", "object", "The new flags.", shape="room"),),
        ),
        ServerFrame(
            "session.ended",
            f"The session ended; the socket closes with {CLOSE_ENDED}.",
            (
                Field("session_id", "integer", "The session.", minimum=1),
                Field("ended_at", "string", "When it ended.", format="date-time"),
            ),
        ),
        ServerFrame(
            "pong",
            "The answer to ping.",
            (
                Field(
                    "ref",
                    "string",
                    "The ping's ref, when it had one.",
                    required=False,
                    max_length=REF_MAX_CHARS,
                ),
            ),
        ),
        ServerFrame(
            "error",
            "A frame was refused; nothing changed. The socket stays open except after "
            "access_ended.",
            (
                Field("code", "string", "Why.", enum=tuple(ERROR_CODES)),
                Field("detail", "string", "A sentence for people."),
                Field(
                    "ref",
                    "string",
                    "The ref of the client frame that caused it, or the server's log "
                    "reference on server_error.",
                    required=False,
                ),
            ),
        ),
    )
}

STAFF_FRAME_TYPES = frozenset(t for t, f in CLIENT_FRAMES.items() if f.staff_only)
WAITING_FRAME_TYPES = frozenset(t for t, f in CLIENT_FRAMES.items() if f.while_waiting)


# --- Checking a client frame --------------------------------------------------------------


class FieldInvalid(ValueError):
    """A client frame's field has the wrong type or format (error ``invalid``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# A stripped text longer than this many times its limit is refused by the frame check, so
# the service never strips a frame-sized run of whitespace.
_RAW_LENGTH_FACTOR = 4


def _checked(field: Field, value: Any) -> Any:
    if field.type == "integer":
        # bool is an int in Python; a JSON true is not a number here.
        minimum = field.minimum or 0
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise FieldInvalid(f"'{field.name}' must be a whole number ≥ {minimum}.")
        return value
    if not isinstance(value, str):
        raise FieldInvalid(f"'{field.name}' must be a string.")
    if field.format == "uuid":
        try:
            return uuid.UUID(value)
        except ValueError:
            raise FieldInvalid(f"'{field.name}' must be a UUID.") from None
    limit = field.max_length
    if limit is not None and field.stripped:
        limit *= _RAW_LENGTH_FACTOR
    if limit is not None and len(value) > limit:
        raise FieldInvalid(f"'{field.name}' is too long.")
    return value


def checked_fields(frame_type: str, content: dict[str, Any]) -> dict[str, Any]:
    """The fields of a client frame of a known ``frame_type``, checked against their type
    and format (a ``uuid`` string becomes a ``uuid.UUID``): ``FieldInvalid`` for a required
    field that fails; an optional one that fails is left out (a ``ref`` too long to echo is
    not echoed). What the room judges (a stripped text's length, a seq that exists) is for
    the room's writes to check (``chat``, ``moderation``)."""
    values: dict[str, Any] = {}
    for field in CLIENT_FRAMES[frame_type].fields:
        if field.required:
            values[field.name] = _checked(field, content.get(field.name))
        elif field.name in content:
            try:
                values[field.name] = _checked(field, content[field.name])
            except FieldInvalid:
                continue
    return values


# orjson writes times as the REST API does (RFC 3339 with microseconds, "Z" for UTC) and
# never escapes non-ASCII: text frames are UTF-8 on the wire, and escaping would triple an
# emoji-heavy message (and a room.state carrying fifty of them) for nothing. What it cannot
# write itself (a lazy translation, a Decimal) goes through Django's encoder. With the
# standard library's encoder, a room.state frame's encoding was 7 % of an entry's CPU
# (bench/NOTES.md).
_ENCODE_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
_django_default = DjangoJSONEncoder().default


def encode(frame: dict[str, Any]) -> str:
    """A frame as the text sent on the socket."""
    return orjson.dumps(frame, default=_django_default, option=_ENCODE_OPTIONS).decode()
