"""Query-string date-times, shared by the list filters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField


def utc_moment(moment: dt.datetime) -> dt.datetime:
    """An aware ``moment`` in UTC. Python accepts UTC offsets up to ±23:59, PostgreSQL only
    up to ±15:59, and a moment at the edge of year 1 or 9999 may not exist in UTC: each of
    those is bad input, not a database error."""
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise forms.ValidationError("This date-time is out of range.") from None


class UtcIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value: Any) -> dt.datetime | None:
        moment = super().to_python(value)
        return None if moment is None else utc_moment(moment)


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
