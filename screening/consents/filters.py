"""Query parameters of the consent list."""

from __future__ import annotations

import django_filters

from screening.api_base import IdFilter
from screening.models import Consent


class ConsentFilter(django_filters.FilterSet):
    patient = IdFilter(label="Only this patient's consents.")

    class Meta:
        model = Consent
        fields: list[str] = []
