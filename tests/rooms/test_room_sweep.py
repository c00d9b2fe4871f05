"""``sweep_rooms`` (the compose ``sweep`` service, and each process's heartbeat for its own
rooms) takes out of every room the people whose presence expired, many rooms in one pass,
and leaves everyone still live where they are."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from sessions_app.rooms import entry, presence
from sessions_app.rooms.models import AttendanceSegment, Participant
from tests.factories import SessionFactory
from tests.rooms.test_room_presence_store import _redis_or_skip

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared_presence(settings: Any) -> Any:
    settings.REDIS_URL = _redis_or_skip()
    presence._store.cache_clear()
    yield presence.store()
    presence._store.cache_clear()


@pytest.mark.parametrize("batch", [entry.SWEEP_BATCH, 1])
def test_the_sweep_takes_out_only_the_expired_in_every_room(
    shared_presence: Any, cast: Any, live_session: Any, batch: int, monkeypatch: Any
):
    monkeypatch.setattr(entry, "SWEEP_BATCH", batch)
    rooms = [live_session, SessionFactory(cohort=cast.cohort, waiting_room=False)]
    now = presence.now()
    for room in rooms:
        shared_presence.clear(room.pk)
        for user, expires_at in ((cast.patient, now - 5), (cast.facilitator, now + 60)):
            Participant.objects.create(session=room, user=user, state="admitted", online=True)
            AttendanceSegment.objects.create(
                session=room, user=user, joined_at=live_session.starts_at
            )
            shared_presence.touch(room.pk, presence.member_name(user.pk, "socket"), expires_at)

    out = StringIO()
    call_command("sweep_rooms", stdout=out)

    assert "2 participant(s) taken out of rooms." in out.getvalue()
    online = set(Participant.objects.filter(online=True).values_list("session_id", "user_id"))
    assert online == {(room.pk, cast.facilitator.pk) for room in rooms}
    open_segments = AttendanceSegment.objects.filter(left_at__isnull=True)
    assert set(open_segments.values_list("session_id", "user_id")) == online
    # Each expired member went once: a second pass finds nobody to take out.
    again = StringIO()
    call_command("sweep_rooms", stdout=again)
    assert "0 participant(s) taken out of rooms." in again.getvalue()
