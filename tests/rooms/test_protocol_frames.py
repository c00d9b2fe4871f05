"""The frames a real room sends and accepts are the ones ``protocol`` lists, with the
fields it lists, and they validate against docs/asyncapi.yaml: drift the other way round
from the generated document (the code sending what the protocol does not say)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sessions_app.rooms import protocol
from tests.rooms.conftest import Socket

pytestmark = pytest.mark.django_db(transaction=True)

DOC_URI = "urn:vioip:asyncapi"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    path = Path(settings.BASE_DIR) / "docs" / "asyncapi.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _validator(doc: dict[str, Any], message_key: str) -> Draft7Validator:
    registry: Registry[Any] = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT7)
    )
    return Draft7Validator(
        {"$ref": f"{DOC_URI}#/components/messages/{message_key}/payload"},
        registry=registry,
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )


def _problems(value: Any, fields: tuple[protocol.Field, ...], where: str) -> list[str]:
    """How ``value`` differs from the protocol's ``fields`` (nested shapes included)."""
    if not isinstance(value, dict):
        return [f"{where} is not an object"]
    declared = {f.name: f for f in fields}
    problems = [f"{where}.{key} is not in the protocol" for key in set(value) - set(declared)]
    for name, field in declared.items():
        path = f"{where}.{name}"
        if name not in value:
            if field.required:
                problems.append(f"{path} is missing")
            continue
        item = value[name]
        if item is None:
            if not field.nullable:
                problems.append(f"{path} is null")
        elif field.type == "object":
            problems += _problems(item, protocol.SHAPES[field.shape or ""], path)
        elif field.type == "array":
            if not isinstance(item, list):
                problems.append(f"{path} is not a list")
            elif field.shape is not None:
                for index, element in enumerate(item):
                    problems += _problems(element, protocol.SHAPES[field.shape], f"{path}[{index}]")
        else:
            problems += _scalar_problems(item, field, path)
    return problems


def _scalar_problems(item: Any, field: protocol.Field, path: str) -> list[str]:
    python_type = {"integer": int, "string": str, "boolean": bool}[field.type]
    if not isinstance(item, python_type) or (field.type == "integer" and isinstance(item, bool)):
        return [f"{path} is not a {field.type}: {item!r}"]
    if field.enum is not None and item not in field.enum:
        return [f"{path} is not one of {field.enum}: {item!r}"]
    if field.format == "uuid":
        uuid.UUID(item)
    elif field.format == "date-time":
        dt.datetime.fromisoformat(item)
    return []


class Recorder:
    """Every frame and close a socket got."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket
        self.frames: list[dict[str, Any]] = []
        self.close_codes: list[int] = []

    async def drain(self) -> list[dict[str, Any]]:
        """Read what has arrived (waiting a little for the room's broadcasts)."""
        got: list[dict[str, Any]] = []
        comm = self.socket.comm
        while not await comm.receive_nothing(timeout=0.3):
            output = await comm.receive_output()
            if output["type"] == "websocket.close":
                self.close_codes.append(int(output.get("code", 1000)))
                break
            got.append(json.loads(output["text"]))
        self.frames += got
        return got


async def test_every_frame_of_a_whole_session_is_in_the_protocol_with_its_fields(
    join: Any, cast: Any, live_session: Any, doc: dict[str, Any]
):
    staff_socket, first = await join(cast.facilitator, live_session)
    staff = Recorder(staff_socket)
    staff.frames.append(first)
    patient_socket, waiting_state = await join(cast.patient, live_session)
    patient = Recorder(patient_socket)
    patient.frames.append(waiting_state)
    assert waiting_state["me"]["state"] == "waiting"
    pid = cast.patient.pk

    async def both() -> None:
        await staff.drain()
        await patient.drain()

    await patient.socket.send({"type": "ping", "ref": "waiting"})
    await patient.socket.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "x"})
    await staff.socket.send({"type": "waiting.admit", "user_id": pid})
    await both()
    await patient.socket.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "hi"})
    await staff.socket.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": "hey"})
    await patient.socket.send({"type": "hand.raise"})
    await patient.socket.send({"type": "hand.lower"})
    await patient.socket.send({"type": "chat.history", "after_seq": 0, "ref": "h"})
    await patient.socket.send({"type": "no.such.frame", "ref": "bad"})
    await both()
    for frame in (
        {"type": "participant.mute", "user_id": pid},
        {"type": "participant.unmute", "user_id": pid},
        {"type": "room.lock"},
        {"type": "room.unlock"},
        {"type": "chat.delete", "seq": 1},
        {"type": "participant.step_out", "user_id": pid},
        {"type": "waiting.admit", "user_id": pid},
        {"type": "participant.remove", "user_id": pid},
    ):
        await staff.socket.send(frame)
        await both()
    await staff.socket.send({"type": "session.end"})
    await staff.drain()

    frames = staff.frames + patient.frames
    # The session made the server send every frame type the protocol lists.
    assert {f["type"] for f in frames} == set(protocol.SERVER_FRAMES)
    for frame in frames:
        spec = protocol.SERVER_FRAMES[frame["type"]]
        body = {key: value for key, value in frame.items() if key != "type"}
        assert _problems(body, spec.fields, frame["type"]) == []
        errors = [e.message for e in _validator(doc, f"server.{frame['type']}").iter_errors(frame)]
        assert errors == [], frame["type"]
    assert {f["code"] for f in frames if f["type"] == "error"} == {"not_admitted", "unknown_type"}
    assert patient.close_codes == [protocol.CLOSE_FORBIDDEN]
    assert staff.close_codes == [protocol.CLOSE_ENDED]
    assert set(patient.close_codes + staff.close_codes) <= set(protocol.CLOSE_CODES)


def _example(field: protocol.Field, targets: dict[str, int]) -> Any:
    if field.type == "integer":
        return targets.get(field.name, field.minimum or 0)
    if field.format == "uuid":
        return str(uuid.uuid4())
    return "hello"


def _wrong(field: protocol.Field) -> Any:
    return "1" if field.type == "integer" else 1


async def _answers(socket: Socket, frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames that answer ``frame`` (frames are answered in order: up to the pong, or
    the close after session.end)."""
    await socket.send(frame)
    await socket.send({"type": "ping", "ref": "sync"})
    answers = []
    while (output := await socket.comm.receive_output(timeout=3))["type"] != "websocket.close":
        reply = json.loads(output["text"])
        if reply == {"type": "pong", "ref": "sync"}:
            break
        answers.append(reply)
    return answers


async def test_the_server_accepts_each_client_frame_as_the_protocol_lists_it(
    join: Any, cast: Any, live_session: Any, doc: dict[str, Any]
):
    """Every client frame built from its listed fields is taken (not malformed, unknown or
    invalid); without one of its required fields, or with a field of the wrong type, the
    document calls it invalid and so does the server."""
    staff, _ = await join(cast.facilitator, live_session)
    # Refused frames count toward the bad-frame limit: the wrong types go on a second socket.
    other_staff, _ = await join(cast.clinician, live_session)
    patient, _ = await join(cast.patient, live_session)
    targets = {"user_id": cast.patient.pk, "seq": 1}
    # Removing the patient and ending the session come last: the others need them.
    last = ["participant.remove", "session.end"]
    for frame_type in [t for t in protocol.CLIENT_FRAMES if t not in last] + last:
        validator = _validator(doc, f"client.{frame_type}")
        required = [f for f in protocol.CLIENT_FRAMES[frame_type].fields if f.required]
        valid = {"type": frame_type, **{f.name: _example(f, targets) for f in required}}
        for field in required:
            missing = {key: value for key, value in valid.items() if key != field.name}
            wrong = {**valid, field.name: _wrong(field)}
            for socket, frame in ((staff, missing), (other_staff, wrong)):
                assert not validator.is_valid(frame), frame
                answers = await _answers(socket, frame)
                errors = [a["code"] for a in answers if a["type"] == "error"]
                assert errors == ["invalid"], frame
        assert validator.is_valid(valid), valid
        answers = await _answers(staff, valid)
        codes = {a.get("code") for a in answers if a["type"] == "error"}
        assert not codes & {"malformed", "unknown_type", "invalid"}, (frame_type, codes)
    await patient.close()
    await other_staff.close()
