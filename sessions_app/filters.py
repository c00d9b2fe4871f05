"""Query filters for session lists: ``cohort``, ``kind``, ``status``, ``from``, ``to``.

``from``/``to`` take a date (a whole UTC day, inclusive) or an ISO 8601 date-time, and
bound the session's start.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.utils.dateparse import parse_date, parse_datetime

from sessions_app.models import Session, SessionKind, SessionStatus
from vioip.core.filters import utc_moment


class DateOrDateTimeField(forms.Field):
    def to_python(self, value: Any) -> dt.date | dt.datetime | None:
        if value in (None, ""):
            return None
        moment = day = None
        try:
            # parse_datetime also reads a bare date (as midnight): try the date first.
            day = parse_date(value)
            moment = None if day else parse_datetime(value)
        except ValueError:
            pass
        if moment is not None:
            return utc_moment(moment) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        if day is not None:
            return day
        raise forms.ValidationError("Give a date (YYYY-MM-DD) or an ISO 8601 date-time.")


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class StartsFromFilter(django_filters.Filter):
    field_class = DateOrDateTimeField

    def filter(self, qs: Any, value: Any) -> Any:
        if value is None:
            return qs
        if not isinstance(value, dt.datetime):
            value = _day_start(value)
        return qs.filter(starts_at__gte=value)


class StartsUntilFilter(django_filters.Filter):
    field_class = DateOrDateTimeField

    def filter(self, qs: Any, value: Any) -> Any:
        if value is None:
            return qs
        if isinstance(value, dt.datetime):
            return qs.filter(starts_at__lte=value)
        if value == dt.date.max:
            return qs  # the whole last day there is: no bound
        return qs.filter(starts_at__lt=_day_start(value + dt.timedelta(days=1)))


class MySessionFilter(django_filters.FilterSet):
    date_from = StartsFromFilter(field_name="starts_at", label="Sessions starting from")
    date_to = StartsUntilFilter(field_name="starts_at", label="Sessions starting until")

    class Meta:
        model = Session
        fields: list[str] = []


class SessionFilter(MySessionFilter):
    cohort = django_filters.NumberFilter(field_name="cohort_id")
    kind = django_filters.ChoiceFilter(choices=SessionKind.choices)
    status = django_filters.ChoiceFilter(choices=SessionStatus.choices)

    class Meta:
        model = Session
        fields: list[str] = []


# The API's words are ``from`` and ``to``, which cannot be attribute names.
for _filterset in (MySessionFilter, SessionFilter):
    _filterset.base_filters["from"] = _filterset.base_filters.pop("date_from")
    _filterset.base_filters["to"] = _filterset.base_filters.pop("date_to")
