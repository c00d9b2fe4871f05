from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.utils import timezone

from sessions_app.rooms.models import ChatMessage, Room

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


def chat(text: str, client_id: str | None = None) -> dict[str, Any]:
    return {"type": "chat.send", "client_id": client_id or str(uuid.uuid4()), "text": text}


def _seed(session: Any, sender: Any, texts: list[str]) -> None:
    """A room whose chat already holds ``texts`` as seq 1, 2, ..."""
    now = timezone.now()
    ChatMessage.objects.bulk_create(
        ChatMessage(
            session=session,
            seq=n,
            sender=sender,
            client_id=uuid.uuid4(),
            text=text,
            sent_at=now,
        )
        for n, text in enumerate(texts, start=1)
    )
    Room.objects.create(session=session, last_seq=len(texts), waiting_room=False)


def _stored() -> list[tuple[int, str]]:
    return [(m.seq, m.text) for m in ChatMessage.objects.order_by("seq")]


async def test_chat_is_stored_with_the_next_seq_and_broadcast(join: Any, cast: Any, open_session):
    patient, _ = await join(cast.patient, open_session)
    staff, _ = await join(cast.facilitator, open_session)
    await patient.receive_type("presence.joined")
    client_id = str(uuid.uuid4())
    await patient.send(chat("  hello group  ", client_id))
    for socket in (patient, staff):
        message = await socket.receive_type("chat.message")
        assert message["seq"] == 1
        assert message["text"] == "hello group"
        assert message["client_id"] == client_id
        assert message["sender"] == {
            "user_id": cast.patient.pk,
            "display_name": "Alex R.",
            "role": "patient",
        }
    await staff.send(chat("welcome"))
    assert (await patient.receive_type("chat.message"))["seq"] == 2
    assert await sync_to_async(_stored)() == [(1, "hello group"), (2, "welcome")]
    await patient.close()
    await staff.close()


async def test_resent_client_id_returns_the_original_and_stores_once(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    staff, _ = await join(cast.facilitator, open_session)
    await patient.receive_type("presence.joined")
    client_id = str(uuid.uuid4())
    await patient.send(chat("once", client_id))
    original = await patient.receive_type("chat.message")
    await staff.receive_type("chat.message")
    await patient.send(chat("once, again", client_id))
    resent = await patient.receive_type("chat.message")
    assert resent == original
    assert await staff.nothing()  # the room is not told twice
    assert await sync_to_async(_stored)() == [(1, "once")]
    await patient.close()
    await staff.close()


async def test_invalid_text_is_refused_and_nothing_is_stored(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    for frame in (chat("   "), chat("x" * 2001)):
        await patient.send(frame)
        error = await patient.receive_type("error")
        assert error["code"] == "invalid"
    for frame in (
        {"type": "chat.send", "client_id": "not-a-uuid", "text": "hi"},
        {"type": "chat.send", "client_id": str(uuid.uuid4()), "text": 5},
        {"type": "chat.send", "text": "hi"},
    ):
        await patient.send(frame)
        assert (await patient.receive_type("error"))["code"] == "invalid"
    assert await sync_to_async(_stored)() == []
    await patient.send(chat("x" * 2000))
    assert (await patient.receive_type("chat.message"))["seq"] == 1
    await patient.close()


async def test_history_after_seq_returns_every_missed_message_in_order(
    join: Any, cast: Any, open_session: Any
):
    staff, _ = await join(cast.facilitator, open_session)
    for n in range(4):
        await staff.send(chat(f"m{n}"))
        await staff.receive_type("chat.message")
    patient, state = await join(cast.patient, open_session)
    assert state["last_seq"] == 4
    assert [m["text"] for m in state["messages"]] == ["m0", "m1", "m2", "m3"]
    await patient.send({"type": "chat.history", "after_seq": 2})
    history = await patient.receive_type("chat.history")
    assert [(m["seq"], m["text"]) for m in history["messages"]] == [(3, "m2"), (4, "m3")]
    await patient.send({"type": "chat.history", "after_seq": "2"})
    assert (await patient.receive_type("error"))["code"] == "invalid"
    await patient.close()
    await staff.close()


async def test_room_state_carries_only_the_last_fifty_messages(
    join: Any, cast: Any, open_session: Any
):
    await sync_to_async(_seed)(open_session, cast.facilitator, [f"m{n}" for n in range(1, 61)])
    patient, state = await join(cast.patient, open_session)
    assert [m["seq"] for m in state["messages"]] == list(range(11, 61))
    assert state["last_seq"] == 60
    await patient.close()


async def test_chat_is_rate_limited_per_person(join: Any, cast: Any, open_session: Any):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        patient, _ = await join(cast.patient, open_session)
        for n in range(5):
            await patient.send(chat(f"m{n}"))
            await patient.receive_type("chat.message")
        await patient.send(chat("one too many"))
        assert (await patient.receive_type("error"))["code"] == "rate_limited"
        assert len(await sync_to_async(_stored)()) == 5
        clock.shift(dt.timedelta(seconds=6))
        await patient.send(chat("later"))
        assert (await patient.receive_type("chat.message"))["seq"] == 6
        await patient.close()


async def test_refused_attempts_do_not_count_toward_the_rate_window(
    join: Any, cast: Any, open_session: Any
):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        patient, _ = await join(cast.patient, open_session)
        for n in range(5):
            await patient.send(chat(f"m{n}"))
            await patient.receive_type("chat.message")
        for _ in range(4):
            clock.shift(dt.timedelta(seconds=1))
            await patient.send(chat("still talking"))
            assert (await patient.receive_type("error"))["code"] == "rate_limited"
        # Five seconds after the first five: only they counted, so the window is empty.
        clock.shift(dt.timedelta(seconds=1.5))
        await patient.send(chat("my turn"))
        assert (await patient.receive_type("chat.message"))["seq"] == 6
        await patient.close()


async def test_a_resend_past_the_rate_limit_gets_the_stored_original(
    join: Any, cast: Any, open_session: Any
):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        patient, _ = await join(cast.patient, open_session)
        first = str(uuid.uuid4())
        await patient.send(chat("m0", first))
        await patient.receive_type("chat.message")
        for n in range(1, 5):
            await patient.send(chat(f"m{n}"))
            await patient.receive_type("chat.message")
        await patient.send(chat("m0", first))
        again = await patient.receive_type("chat.message")
        assert (again["seq"], again["text"]) == (1, "m0")
        assert len(await sync_to_async(_stored)()) == 5
        await patient.close()


async def test_long_messages_come_in_frames_of_at_most_256_kib(
    join: Any, cast: Any, open_session: Any
):
    long_text = "\N{GRINNING FACE}" * 2000  # 8 KB in UTF-8

    await sync_to_async(_seed)(open_session, cast.facilitator, [long_text] * 80)
    patient, state = await join(cast.patient, open_session)
    # room.state keeps the newest messages that fit, in order, ending at the last.
    recent = [m["seq"] for m in state["messages"]]
    assert 20 < len(recent) < 50 and recent == list(range(81 - len(recent), 81))
    seqs: list[int] = []
    while True:
        await patient.send({"type": "chat.history", "after_seq": seqs[-1] if seqs else 0})
        frame = await patient.receive_type("chat.history")
        assert len(json.dumps(frame, ensure_ascii=False).encode()) <= 256 * 1024 + 1024
        seqs += [m["seq"] for m in frame["messages"]]
        if not frame["has_more"]:
            break
    assert seqs == list(range(1, 81))
    await patient.close()
