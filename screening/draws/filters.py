"""Query parameters of the draw, draw schedule and compliance lists."""

from __future__ import annotations

import django_filters

from screening.api_base import DayFilter, IdFilter
from screening.models import Draw, DrugTest


class DrawFilter(django_filters.FilterSet):
    cohort = IdFilter(label="Only this cohort's draws.")

    class Meta:
        model = Draw
        fields: list[str] = []


class DrawScheduleFilter(django_filters.FilterSet):
    cohort = IdFilter(label="The cohort whose draws to list.", required=True)

    class Meta:
        model = Draw
        fields: list[str] = []


class ComplianceFilter(django_filters.FilterSet):
    cohort = IdFilter(label="The cohort to report on.", required=True)
    date_from = DayFilter(label="Count orders and collections from this day.")
    date_to = DayFilter(label="Count orders and collections until this day (inclusive).")

    class Meta:
        model = DrugTest
        fields: list[str] = []


# The API's words are ``from`` and ``to``, which cannot be attribute names.
ComplianceFilter.base_filters["from"] = ComplianceFilter.base_filters.pop("date_from")
ComplianceFilter.base_filters["to"] = ComplianceFilter.base_filters.pop("date_to")
