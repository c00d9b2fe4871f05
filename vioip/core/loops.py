"""One object per running event loop.

A server process has one loop, but the test suite runs many, one after another, and a
closed loop's ``id`` can be reused by the next: an entry is only returned for the very loop
that made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], T]) -> None:
        self._make = make
        self._items: dict[int, tuple[asyncio.AbstractEventLoop, T]] = {}

    def get(self) -> T:
        """The running loop's object, made on first use."""
        loop = asyncio.get_running_loop()
        entry = self._items.get(id(loop))
        if entry is None or entry[0] is not loop:
            entry = self._items[id(loop)] = (loop, self._make(loop))
        return entry[1]

    def existing(self) -> T | None:
        """The running loop's object if it has one (None outside a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        entry = self._items.get(id(loop))
        return entry[1] if entry is not None and entry[0] is loop else None
