"""How PostgreSQL's ``timestamptz`` values are read on a connection whose time zone is UTC.

Django registers a loader of its own for ``timestamptz`` (``BaseTzLoader``) so that values
come back in the connection's time zone. It subclasses psycopg's pure-Python loader, so
every timestamp of every row is parsed in Python even where psycopg's C loader is
installed (the binary package). A room's entry reads a few dozen of them, and py-spy put
the parsing at about 5 % of a room worker's CPU during a reconnect (bench/NOTES.md).

vioip's connections are in UTC (``TIME_ZONE``), and the C loader already returns values in
the session's time zone with ``datetime.timezone.utc`` as their ``tzinfo``: the same value
Django's loader makes. So on those connections the C loader does the parsing; the
``timezone`` attribute is the one Django compares before every cursor, so it keeps this
loader instead of registering its own again. Anywhere else (another time zone, no C
loader), Django's loader stays.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.backends.signals import connection_created


def _c_timestamptz_loader() -> Any:
    try:
        from psycopg import pq

        if pq.__impl__ != "binary":
            return None
        # psycopg_binary is importable once psycopg is (as above).
        from psycopg_binary import _psycopg as c_impl
    except ImportError:
        return None
    return getattr(c_impl, "TimestamptzLoader", None)


def utc_loader_class() -> type | None:
    """A ``timestamptz`` loader for UTC connections that parses in C, or None."""
    c_loader = _c_timestamptz_loader()
    if c_loader is None:
        return None
    from psycopg.adapt import Loader

    class UtcTimestamptzLoader(Loader):
        """psycopg's C loader, under the ``timezone`` attribute Django looks for."""

        timezone = dt.UTC

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._load = c_loader(oid, context).load

        def load(self, data: Any) -> Any:
            return self._load(data)

    return UtcTimestamptzLoader


_loader: type | None = None


def use_c_timestamps(sender: Any, connection: Any, **kwargs: Any) -> None:
    """``connection_created``: a UTC PostgreSQL connection reads timestamps in C."""
    global _loader
    if connection.vendor != "postgresql" or connection.timezone != dt.UTC:
        return
    if _loader is None:
        _loader = utc_loader_class()
        if _loader is None:
            return
    connection.connection.adapters.register_loader("timestamptz", _loader)


def connect() -> None:
    connection_created.connect(use_c_timestamps, dispatch_uid="vioip.core.pg_types")
