"""docs/asyncapi.yaml is what the room protocol generates, and is AsyncAPI 3.0 in shape.

No AsyncAPI 3 validator that works offline is a dependency of this project (the official
one is JavaScript; the Python ones are young object models), so the document's structure
is checked here against the specification's rules that apply to it, and every payload
against the JSON Schema meta-schema (draft 7, AsyncAPI's default schema format).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from jsonschema import Draft7Validator

from sessions_app.rooms import protocol

DOC = Path(settings.BASE_DIR) / "docs" / "asyncapi.yaml"
# The AsyncAPI 3.0.0 document object's fields.
TOP_LEVEL = {
    "asyncapi",
    "id",
    "info",
    "servers",
    "defaultContentType",
    "channels",
    "operations",
    "components",
}
COMPONENT_KEY = re.compile(r"^[a-zA-Z0-9.\-_]+$")
MESSAGE_FIELDS = {
    "headers",
    "payload",
    "correlationId",
    "contentType",
    "name",
    "title",
    "summary",
    "description",
    "tags",
    "externalDocs",
    "bindings",
    "examples",
    "traits",
}
CHANNEL_FIELDS = {
    "address",
    "messages",
    "title",
    "summary",
    "description",
    "servers",
    "parameters",
    "tags",
    "externalDocs",
    "bindings",
}
OPERATION_FIELDS = {
    "action",
    "channel",
    "title",
    "summary",
    "description",
    "security",
    "tags",
    "externalDocs",
    "bindings",
    "traits",
    "messages",
    "reply",
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(DOC.read_text(encoding="utf-8"))


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    # A reference to a reference (an operation's message, through its channel).
    return _resolve(doc, node["$ref"]) if isinstance(node, dict) and "$ref" in node else node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _own_keys(node: dict[str, Any]) -> set[str]:
    """The keys that are not specification extensions."""
    return {key for key in node if not key.startswith("x-")}


def test_the_committed_document_is_what_the_protocol_generates():
    call_command("asyncapi", "--check")


def test_check_fails_on_a_document_that_drifted_and_passes_once_regenerated(tmp_path: Path):
    path = tmp_path / "asyncapi.yaml"
    with pytest.raises(CommandError, match="not what the room protocol generates"):
        call_command("asyncapi", "--check", "--output", str(path))
    call_command("asyncapi", "--output", str(path))
    call_command("asyncapi", "--check", "--output", str(path))
    path.write_text(path.read_text().replace("chat.delete", "chat.remove"))
    with pytest.raises(CommandError):
        call_command("asyncapi", "--check", "--output", str(path))


def test_the_document_has_the_asyncapi_3_document_structure(doc: dict[str, Any]):
    assert doc["asyncapi"] == "3.0.0"
    assert _own_keys(doc) <= TOP_LEVEL
    assert isinstance(doc["info"]["title"], str) and isinstance(doc["info"]["version"], str)
    for server in doc["servers"].values():
        assert {"host", "protocol"} <= set(server)
        # Every {variable} of the host is defined, and none is left over.
        assert set(re.findall(r"{(\w+)}", server["host"])) == set(server.get("variables", {}))
    for section in ("schemas", "messages"):
        assert all(COMPONENT_KEY.match(key) for key in doc["components"][section])


def test_every_reference_resolves(doc: dict[str, Any]):
    refs = _refs(doc)
    assert refs
    for ref in refs:
        assert _resolve(doc, ref) is not None, ref


def test_the_channel_has_the_room_address_its_parameters_and_the_ticket_binding(
    doc: dict[str, Any],
):
    (channel,) = doc["channels"].values()
    assert _own_keys(channel) <= CHANNEL_FIELDS
    assert channel["address"] == "/ws/sessions/{session_id}/"
    # AsyncAPI 3: the parameters are exactly the address's expressions.
    assert set(re.findall(r"{(\w+)}", channel["address"])) == set(channel["parameters"])
    binding = channel["bindings"]["ws"]
    assert set(binding) <= {"method", "query", "headers", "bindingVersion"}
    assert binding["query"]["required"] == ["ticket"]
    assert binding["headers"]["required"] == ["Origin"]
    for schema in (binding["query"], binding["headers"]):
        Draft7Validator.check_schema(schema)


def test_operations_send_the_client_frames_and_receive_the_server_frames(doc: dict[str, Any]):
    operations = doc["operations"]
    assert set(operations) == {"send", "receive"}
    names = {}
    for key, operation in operations.items():
        assert _own_keys(operation) <= OPERATION_FIELDS
        assert operation["action"] == key
        channel_ref = operation["channel"]["$ref"]
        channel = _resolve(doc, channel_ref)
        # AsyncAPI 3: an operation's messages are references into its channel's messages.
        for ref in operation["messages"]:
            assert ref["$ref"].startswith(channel_ref + "/messages/")
            assert ref["$ref"].rsplit("/", 1)[1] in channel["messages"]
        names[key] = {_resolve(doc, ref["$ref"])["name"] for ref in operation["messages"]}
    assert names["send"] == set(protocol.CLIENT_FRAMES)
    assert names["receive"] == set(protocol.SERVER_FRAMES)


def test_every_message_is_a_message_object_with_a_json_schema_payload(doc: dict[str, Any]):
    messages = doc["components"]["messages"]
    assert len(messages) == len(protocol.CLIENT_FRAMES) + len(protocol.SERVER_FRAMES)
    for key, message in messages.items():
        assert _own_keys(message) <= MESSAGE_FIELDS, key
        payload = message["payload"]
        Draft7Validator.check_schema(payload)
        assert payload["properties"]["type"]["const"] == message["name"]
        assert payload["required"][0] == "type"
    for schema in doc["components"]["schemas"].values():
        Draft7Validator.check_schema(schema)


def test_the_fields_of_each_frame_are_the_protocols(doc: dict[str, Any]):
    messages = doc["components"]["messages"]
    for direction, frames in (
        ("client", protocol.CLIENT_FRAMES),
        ("server", protocol.SERVER_FRAMES),
    ):
        for frame_type, frame in frames.items():
            payload = messages[f"{direction}.{frame_type}"]["payload"]
            declared = {f.name for f in frame.fields}
            if direction == "client":
                declared.add("ref")  # any client frame may carry one
            assert set(payload["properties"]) == {"type"} | declared, frame_type
            required = {f.name for f in frame.fields if f.required}
            assert set(payload["required"]) == {"type"} | required, frame_type


def test_the_close_codes_and_error_codes_are_listed_with_their_meanings(doc: dict[str, Any]):
    (channel,) = doc["channels"].values()
    listed = {c["code"]: c for c in channel["x-close-codes"]}
    assert set(listed) == set(protocol.CLOSE_CODES)
    for code, close in protocol.CLOSE_CODES.items():
        assert listed[code]["meaning"] == close.meaning
        assert f"| `{code}` |" in channel["description"]
    error = doc["components"]["messages"]["server.error"]
    assert error["payload"]["properties"]["code"]["enum"] == list(protocol.ERROR_CODES)
    assert [e["code"] for e in error["x-error-codes"]] == list(protocol.ERROR_CODES)


def test_every_error_code_the_room_code_sends_is_in_the_protocol_and_each_is_sent():
    """The error codes are strings at the place that raises them: read those places."""
    rooms = Path(protocol.__file__).parent
    source = "\n".join(
        (rooms / name).read_text()
        for name in (
            "consumers.py",
            "tickets.py",
            "entry.py",
            "chat.py",
            "hands.py",
            "moderation.py",
            "liveness.py",
            "rows.py",
            "selectors.py",
        )
    )
    sent = set(re.findall(r"(?:RoomError|BadFrame|send_error)\(\s*\"([a-z_]+)\"", source))
    assert sent == set(protocol.ERROR_CODES)


def test_docs_realtime_explains_exactly_the_protocols_close_codes_and_error_codes():
    text = (Path(settings.BASE_DIR) / "docs" / "realtime.md").read_text(encoding="utf-8")
    start = text.index("## Close codes")
    close_table = text[start : text.index("\n## ", start + 3)]
    assert {int(c) for c in re.findall(r"`(\d{4})`", close_table)} == set(protocol.CLOSE_CODES)
    errors = text[text.index("### `error`") :]
    assert set(re.findall(r"^\| `([a-z_]+)` \|", errors, flags=re.MULTILINE)) == set(
        protocol.ERROR_CODES
    )
