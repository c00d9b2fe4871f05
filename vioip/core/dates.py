"""Dates a request may name. Python's calendar ends at years 1 and 9999, and a date near
either end overflows as soon as it is moved (a day, a year, into a time zone). No program
runs there: a date outside ``FIRST_YEAR``..``LAST_YEAR`` is a field error, not a 500."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rest_framework import serializers

FIRST_YEAR, LAST_YEAR = 1900, 2999


class CalendarDateField(serializers.DateField):
    """A ``YYYY-MM-DD`` date between ``FIRST_YEAR`` and ``LAST_YEAR``."""

    default_error_messages = {
        "out_of_range": f"A date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31.",
    }

    def to_internal_value(self, value: Any) -> dt.date:
        day = super().to_internal_value(value)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.fail("out_of_range")
        return day
