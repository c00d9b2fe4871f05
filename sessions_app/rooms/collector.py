"""Keep Python's cyclic garbage collector off the room sockets' backs.

A room socket lives for hours and holds a few hundred objects: its consumer, daphne's and
autobahn's protocol objects, its queues and tasks. The collector's full passes walk every
one of them; at 2,000 sockets a pass took up to 0.4 s, and chat latency's p99 was those
pauses (measured in ``bench/NOTES.md``). So, as ``vioip.asgi`` does for what start-up
loaded:

- after sockets join, the heartbeat's next tick moves everything alive into the
  collector's permanent generation (``gc.freeze()``, which walks nothing), so later passes
  only look at what was allocated since;
- frozen objects are never examined, so a closed socket whose objects form reference
  cycles would stay in memory. Every ``ROOM_GC_RECLAIM_SECONDS``, if sockets have closed
  since the last time, one full pass over everything reclaims them (``gc.unfreeze()``,
  ``gc.collect()``, ``gc.freeze()``): one pause of that length per interval instead of
  several a minute.
"""

from __future__ import annotations

import gc
import time

from django.conf import settings

_joined = 0
_closed = 0
_reclaimed_at = time.monotonic()


def socket_joined() -> None:
    global _joined
    _joined += 1


def socket_closed() -> None:
    global _closed
    _closed += 1


def tick() -> None:
    """Called by every heartbeat tick (about once a second while sockets are open)."""
    global _joined, _closed, _reclaimed_at
    now = time.monotonic()
    if _closed and now - _reclaimed_at >= settings.ROOM_GC_RECLAIM_SECONDS:
        _joined = _closed = 0
        _reclaimed_at = now
        gc.unfreeze()
        gc.collect()
        gc.freeze()
    elif _joined:
        _joined = 0
        gc.freeze()
