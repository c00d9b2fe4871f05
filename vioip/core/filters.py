"""Query-string date-times, shared by the list filters, and the filter backend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend


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


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, without the filter set, its form and their validation
    when the request names none of the view's filters and none is required: then every
    filter would leave the list as it is, and a list polled without filters (a schedule)
    should not pay for building them on each request."""

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        filters = filterset_class.base_filters
        # A prefix, not the name: a range filter's widget reads ``<name>_min`` and the like.
        named = any(key.startswith(tuple(filters)) for key in request.query_params)
        required = any(f.extra.get("required") for f in filters.values())
        if not named and not required:
            return queryset
        return super().filter_queryset(request, queryset, view)
