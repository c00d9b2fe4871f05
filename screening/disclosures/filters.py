"""Query parameters of the disclosure list."""

from __future__ import annotations

import django_filters

from screening.api_base import IdFilter
from screening.models import Disclosure


class DisclosureFilter(django_filters.FilterSet):
    patient = IdFilter(label="Only disclosures about this patient.")

    class Meta:
        model = Disclosure
        fields: list[str] = []
