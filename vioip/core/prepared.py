"""Querysets built and compiled once, run many times with fresh values.

On a room's hot paths (a socket's entry, every chat message) the ORM built and compiled
the same SQL for every call, and that was a third of their CPU. A ``Prepared`` query is
still written with the ORM, so each rule keeps its one definition: it is built once per
process with stand-in values, and each run binds the caller's values in their place and
converts the rows as the ORM would (decrypted fields, aware datetimes).

    ROOM_FLAGS = Prepared(
        lambda session_id: Room.objects.filter(pk=session_id).values_list("locked"),
        session_id=Prepared.INT,
    )
    rows = ROOM_FLAGS.rows(session_id=42)

Ints, strings and datetimes are bound, and lists of ids through ``field__any_of``
(vioip/core/lookups.py: one parameter, so one SQL text whatever the length). Never an
``__in`` list: one of another length is other SQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.db.models import QuerySet

from vioip.core.lookups import any_of_param

_stand_ins = itertools.count(1)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[int, str], ...]  # (position in params, name of the value)
    compiler: Any
    converters: dict[int, Any]


class Prepared:
    """A ``values_list`` queryset (or any queryset, for ``sql``) compiled once per process.

    Once per process, not per thread: under ASGI every HTTP request runs on a thread of
    its own. The SQL and its parameters do not depend on the connection that compiled
    them, and the row converters kept from that compile (fields' ``from_db_value``, the
    backend's datetime and boolean converters) read only settings, which every
    connection of the alias shares. Two threads compiling at once both get the same
    answer; either is kept."""

    INT: ClassVar[str] = "int"
    STR: ClassVar[str] = "str"
    DATETIME: ClassVar[str] = "datetime"
    INTS: ClassVar[str] = "ints"  # a list of ids, for ``field__any_of``

    def __init__(
        self,
        build: Callable[..., QuerySet[Any]],
        *,
        unconverted: tuple[str, ...] = (),
        **kinds: str,
    ) -> None:
        """``build`` makes the queryset from the values named in ``kinds`` (``INT``,
        ``STR``, ``DATETIME`` or ``INTS``); the ``unconverted`` columns come back as the database
        holds them (say, ciphertext the caller decrypts its own way)."""
        self._build = build
        self._kinds = kinds
        self._unconverted = unconverted
        self._compiled_once: _Compiled | None = None

    def _stand_in(self, kind: str) -> Any:
        # Values no caller passes: ids are positive, text holds no NUL, no record dates from 1901.
        number = next(_stand_ins)
        if kind == self.INT:
            return -(10**12) - number
        if kind == self.STR:
            return f"\x00prepared {number}\x00"
        if kind == self.DATETIME:
            return dt.datetime(1901, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=number)
        if kind == self.INTS:
            return [-(10**12) - number]
        raise ValueError(f"Unknown kind {kind!r}.")

    def _compiled(self) -> _Compiled:
        if self._compiled_once is not None:
            return self._compiled_once
        stand_ins = {name: self._stand_in(kind) for name, kind in self._kinds.items()}
        queryset = self._build(**stand_ins)
        compiler = queryset.query.get_compiler(queryset.db)
        sql, params = compiler.as_sql()
        adapted = [
            (self._adapt(compiler.connection, value), name) for name, value in stand_ins.items()
        ]
        # Equal and of the same type: True equals 1, but is no stand-in.
        slots = tuple(
            (position, name)
            for position, param in enumerate(params)
            for value, name in adapted
            if type(param) is type(value) and param == value
        )
        missing = set(stand_ins) - {name for _, name in slots}
        if missing:
            raise ImproperlyConfigured(f"The query does not take {sorted(missing)}.")
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        converters = compiler.get_converters(fields)
        for name in self._unconverted:
            converters.pop(queryset.query.values_select.index(name), None)
        self._compiled_once = _Compiled(sql, tuple(params), slots, compiler, converters)
        return self._compiled_once

    @staticmethod
    def _adapt(connection: Any, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return connection.ops.adapt_datetimefield_value(value)
        if isinstance(value, (list, tuple, set, frozenset)):
            return any_of_param(connection, value)
        return value

    def sql(self, **values: Any) -> tuple[str, list[Any]]:
        """The SQL and its parameters with ``values`` bound, to embed in a statement."""
        compiled = self._compiled()
        params = list(compiled.params)
        connection = connections[compiled.compiler.using]  # this thread's
        for position, name in compiled.slots:
            params[position] = self._adapt(connection, values[name])
        return compiled.sql, params

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """The rows of the ``values_list`` queryset with ``values`` bound."""
        return self._run(*self.sql(**values))

    def rows_if(
        self, change: str, change_params: list[Any], **values: Any
    ) -> list[tuple[Any, ...]]:
        """PostgreSQL only: ``change`` (an UPDATE, INSERT or DELETE) and then the rows, in
        one statement and one round trip; no rows unless ``change`` changed one. The rows
        are read as the statement began, so they do not see the change itself."""
        sql, params = self.sql(**values)
        # Both parts are the code's own SQL; every value is a parameter.
        statement = (
            f"WITH changed AS ({change} RETURNING 1) "  # noqa: S608
            f"SELECT q.* FROM ({sql}) q WHERE EXISTS (SELECT 1 FROM changed)"
        )
        return self._run(statement, [*change_params, *params])

    def _run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        compiled = self._compiled()
        with connections[compiled.compiler.using].cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            return [
                tuple(row) for row in compiled.compiler.apply_converters(rows, compiled.converters)
            ]
        return rows
