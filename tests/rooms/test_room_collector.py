"""The heartbeat keeps the cyclic collector off long-lived room objects, and still reclaims
the reference cycles that closed sockets leave behind (sessions_app/rooms/collector.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

TICK = 1.0  # the heartbeat ticks once a second


class Cycle:
    """Garbage only the cyclic collector can free, like a closed consumer and its task."""

    def __init__(self) -> None:
        self.me = self


def _collected_generations() -> set[int]:
    return {id(o) for generation in (0, 1, 2) for o in gc.get_objects(generation)}


@pytest.fixture
def open_session(live_session: Any) -> Any:
    live_session.waiting_room = False
    live_session.save()
    return live_session


async def test_objects_alive_after_an_entry_are_moved_out_of_the_collectors_view(
    join: Any, cast: Any, open_session: Any
):
    patient, _ = await join(cast.patient, open_session)
    held = [object()]
    assert id(held) in _collected_generations()
    await asyncio.sleep(TICK * 1.5)
    assert id(held) not in _collected_generations()
    await patient.close()


async def test_cycles_frozen_while_sockets_lived_are_reclaimed_once_sockets_closed(
    join: Any, cast: Any, open_session: Any, settings: Any
):
    settings.ROOM_GC_RECLAIM_SECONDS = 1
    staff, _ = await join(cast.facilitator, open_session)
    await asyncio.sleep(TICK * 1.5)  # whatever earlier tests closed is reclaimed first
    cycle = Cycle()  # alive while the next entry's objects are frozen, as a consumer is
    ref = weakref.ref(cycle)
    patient, _ = await join(cast.patient, open_session)
    await asyncio.sleep(TICK * 1.5)
    del cycle
    gc.collect()
    assert ref() is not None, "frozen with the sockets: an ordinary pass does not see it"

    await patient.close()
    await asyncio.sleep(TICK * 2.5)
    assert ref() is None
    await staff.close()
