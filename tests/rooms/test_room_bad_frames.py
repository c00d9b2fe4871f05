from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from sessions_app.rooms.models import ChatMessage

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"text": "no type"}', "malformed"),
        ('{"type": 5}', "malformed"),
        ('{"type": "chat.shout"}', "unknown_type"),
        ('{"type": "chat.history", "after_seq": true}', "invalid"),
        ('{"type": "chat.history", "after_seq": -1}', "invalid"),
        (json.dumps({"type": "chat.send", "client_id": "x", "text": "a" * 17000}), "too_large"),
        # A lone surrogate is valid JSON but not text: refused before it reaches storage.
        (
            '{"type": "chat.send", "client_id": "5f0c3b1e-8f7e-4d8a-9c1e-1a2b3c4d5e6f", '
            '"text": "hi \\ud800"}',
            "malformed",
        ),
        ('{"type": "ping", "ref": "\\udfff"}', "malformed"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(
    join: Any, cast: Any, open_session: Any, text: str, code: str
):
    patient, _ = await join(cast.patient, open_session)
    await patient.send_text(text)
    error = await patient.receive_type("error")
    assert error["code"] == code
    await patient.send({"type": "ping"})
    assert (await patient.receive_type("pong"))["type"] == "pong"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await patient.close()


async def test_binary_frames_get_an_error(join: Any, cast: Any, open_session: Any):
    patient, _ = await join(cast.patient, open_session)
    await patient.comm.send_to(bytes_data=b"\x00\x01")
    assert (await patient.receive_type("error"))["code"] == "binary"
    await patient.close()


async def test_errors_echo_the_clients_ref(join: Any, cast: Any, open_session: Any):
    patient, _ = await join(cast.patient, open_session)
    await patient.send({"type": "chat.history", "after_seq": "x", "ref": "r-1"})
    assert (await patient.receive_type("error"))["ref"] == "r-1"
    await patient.close()


async def test_twenty_bad_frames_in_a_minute_close_the_socket_with_the_policy_code(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    for _ in range(19):
        await patient.send_text("nope")
        assert (await patient.receive_type("error"))["code"] == "malformed"
    await patient.send_text("nope")
    assert await patient.closed() == 4008


async def test_an_unexpected_failure_answers_server_error_and_logs_no_traceback(
    join: Any, cast: Any, open_session: Any, monkeypatch: Any, caplog: Any
):
    from sessions_app.rooms import hands

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("Alex said something private")

    patient, _ = await join(cast.patient, open_session)
    monkeypatch.setattr(hands, "hand_set", broken)
    await patient.send({"type": "hand.raise"})
    error = await patient.receive_type("error")
    assert error["code"] == "server_error" and len(error["ref"]) == 32
    assert "private" not in json.dumps(error)
    await patient.send({"type": "ping"})
    assert (await patient.receive_type("pong"))["type"] == "pong"
    (record,) = [r for r in caplog.records if r.name == "vioip.rooms"]
    assert error["ref"] in record.getMessage()
    assert "private" not in record.getMessage() and record.exc_info is None
    await patient.close()
