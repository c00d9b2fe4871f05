"""Query parameters of the drug test and medication lists."""

from __future__ import annotations

import django_filters

from screening.api_base import IdFilter
from screening.models import DocumentedMedication, DrugTest


class TestFilter(django_filters.FilterSet):
    patient = IdFilter(label="Only this patient's tests.")

    class Meta:
        model = DrugTest
        fields: list[str] = []


class MedicationFilter(django_filters.FilterSet):
    patient = IdFilter(label="The patient whose medications to list.", required=True)

    class Meta:
        model = DocumentedMedication
        fields: list[str] = []
