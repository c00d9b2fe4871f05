"""``field__any_of=ids``: ``IN`` with the whole list bound as one parameter.

Django writes ``field__in=ids`` as ``IN (%s, %s, …)``, one placeholder per id: other SQL for
every length of list, built, compiled and split into parameters again on each call. A room
worker's heartbeat asks about a few hundred sockets every second, and that was most of its
CPU. ``any_of`` is one SQL text whatever the length, so a ``Prepared`` query
(vioip/core/prepared.py) can compile it once and bind each call's list:

- PostgreSQL: ``field = ANY(%s)`` with an array;
- SQLite: ``field IN (SELECT value FROM json_each(%s))`` with a JSON array.

Integer ids only; the list is checked before it reaches SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.db import models
from django.db.models import Lookup


def any_of_param(connection: Any, values: Iterable[int]) -> Any:
    """``values`` as the one parameter ``any_of`` binds on ``connection``'s database."""
    ids = list(values)
    if not all(type(value) is int for value in ids):
        raise TypeError("any_of takes integer ids only.")
    if connection.vendor == "postgresql":
        return ids
    return json.dumps(ids)


class AnyOf(Lookup):
    lookup_name = "any_of"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return list(self.rhs)

    # ``lhs`` is the column Django compiled; the ids are one parameter.
    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        sql = f"{lhs} IN (SELECT value FROM json_each(%s))"  # noqa: S608
        return sql, [*lhs_params, any_of_param(connection, self.rhs)]

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*lhs_params, any_of_param(connection, self.rhs)]


def register() -> None:
    """Make ``any_of`` a lookup of integer columns and foreign keys."""
    models.IntegerField.register_lookup(AnyOf)
    models.ForeignKey.register_lookup(AnyOf)
