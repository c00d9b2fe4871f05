"""Hostile frames: text that is not Unicode, JSON nested past the parser's recursion, and a
flood of hand toggles. Each is refused with an ``error`` frame (a bad frame counts toward
the 4008 close), never ``server_error``, and logs no ERROR."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.utils import timezone

from sessions_app.rooms.models import ChatMessage, Participant

pytestmark = pytest.mark.django_db(transaction=True)

UUID = "5f0c3b1e-8f7e-4d8a-9c1e-1a2b3c4d5e6f"

HOSTILE = [
    # "\ud800" escaped: json.loads accepts it, but it is half a character.
    '{"type": "chat.send", "client_id": "' + UUID + '", "text": "\\ud800"}',
    '{"type": "chat.send", "client_id": "' + UUID + '\\udc00", "text": "hi"}',
    '{"type": "hand.raise", "\\udbff": 1}',
    '{"type": "chat.\\ud800send"}',
    # A lone surrogate in the text itself (a client that does not encode to UTF-8).
    '{"type": "ping", "ref": "\ud800"}',
    # Nested deeper than the parser recurses, and still under the 16 KiB frame limit.
    "[" * 8000 + "]" * 8000,
    '{"type": "chat.history", "after_seq": ' + "[" * 7000 + "]" * 7000 + "}",
]


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


@pytest.mark.parametrize("text", HOSTILE)
async def test_a_hostile_frame_is_a_bad_frame_not_a_server_error(
    join: Any, cast: Any, open_session: Any, caplog: Any, text: str
):
    caplog.set_level(logging.WARNING)
    patient, _ = await join(cast.patient, open_session)
    await patient.send_text(text)
    error = await patient.receive_type("error")
    assert error["code"] in {"malformed", "unknown_type"}, error
    await patient.send({"type": "ping"})
    assert (await patient.receive_type("pong"))["type"] == "pong"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await patient.close()


async def test_hostile_frames_count_toward_the_policy_close(
    join: Any, cast: Any, open_session: Any, caplog: Any
):
    caplog.set_level(logging.WARNING)
    patient, _ = await join(cast.patient, open_session)
    for n in range(19):
        await patient.send_text(HOSTILE[n % len(HOSTILE)])
        assert (await patient.receive_type("error"))["code"] in {"malformed", "unknown_type"}
    await patient.send_text(HOSTILE[0])
    assert await patient.closed() == 4008
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _hand(user: Any) -> bool:
    return Participant.objects.get(user=user).hand_raised


async def test_hand_toggles_are_rate_limited_and_a_refused_one_changes_nothing(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    settings.ROOM_HAND_RATE_TOGGLES = 4
    settings.ROOM_HAND_RATE_SECONDS = 10
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        staff, _ = await join(cast.facilitator, open_session)
        patient, _ = await join(cast.patient, open_session)
        await staff.receive_about("presence.joined", cast.patient.pk)
        for n in range(4):
            await patient.send({"type": "hand.raise" if n % 2 == 0 else "hand.lower"})
            update = await staff.receive_about("presence.updated", cast.patient.pk)
            assert update["participant"]["hand_raised"] is (n % 2 == 0)
        # The fifth within the window: refused, not stored, not broadcast.
        await patient.send({"type": "hand.raise", "ref": "5th"})
        error = await patient.receive_type("error")
        assert (error["code"], error["ref"]) == ("rate_limited", "5th")
        assert await sync_to_async(_hand)(cast.patient) is False
        assert await staff.nothing()
        # Refusals are not bad frames: the socket stays open however many there are.
        for _ in range(25):
            await patient.send({"type": "hand.raise"})
            assert (await patient.receive_type("error"))["code"] == "rate_limited"
        # Once the window has passed, the hand goes up again.
        clock.shift(dt.timedelta(seconds=11))
        await patient.send({"type": "hand.raise"})
        update = await staff.receive_about("presence.updated", cast.patient.pk)
        assert update["participant"]["hand_raised"] is True
        assert await sync_to_async(_hand)(cast.patient) is True
        await patient.close()
        await staff.close()


async def test_the_hand_limit_is_per_person(join: Any, cast: Any, open_session: Any, settings: Any):
    from tests.factories import EnrollmentFactory

    settings.ROOM_HAND_RATE_TOGGLES = 1
    await sync_to_async(EnrollmentFactory)(cohort=cast.cohort, patient=cast.other_patient)
    patient, _ = await join(cast.patient, open_session)
    other, _ = await join(cast.other_patient, open_session)
    await patient.send({"type": "hand.raise"})
    await patient.receive_about("presence.updated", cast.patient.pk)
    await patient.send({"type": "hand.lower"})
    assert (await patient.receive_type("error"))["code"] == "rate_limited"
    await other.send({"type": "hand.raise"})
    update = await other.receive_about("presence.updated", cast.other_patient.pk)
    assert update["participant"]["hand_raised"] is True
    await patient.close()
    await other.close()
