"""Draws and compliance: input and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.api_base import IdInput
from screening.models import Draw


class DrawInput(serializers.Serializer):
    cohort = IdInput()
    date = serializers.DateField()
    rate = serializers.DecimalField(max_digits=4, decimal_places=3)


# --- Output ---------------------------------------------------------------------------------


class DrawOutput(serializers.Serializer):
    """A random draw as its cohort's clinicians see it: who was selected (those still in
    the reader's care)."""

    id = serializers.IntegerField()
    cohort = serializers.IntegerField()
    date = serializers.DateField()
    rate = serializers.CharField(help_text="The share of the pool selected, a decimal as text.")
    drawn_by = serializers.IntegerField()
    drawn_at = serializers.DateTimeField()
    pool_size = serializers.IntegerField()
    selected = serializers.ListField(child=serializers.IntegerField(), help_text="Patient ids.")
    generator = serializers.CharField()


class DuePatientOutput(serializers.Serializer):
    patient = serializers.IntegerField()
    name = serializers.CharField()


class DrawNoticeOutput(serializers.Serializer):
    """A draw as the cohort's staff see it: that it exists and how many it selected; from
    its day on (``announced``), who is due. ``due`` is null before then."""

    id = serializers.IntegerField()
    cohort = serializers.IntegerField()
    date = serializers.DateField()
    selected_count = serializers.IntegerField()
    announced = serializers.BooleanField()
    due = DuePatientOutput(many=True, allow_null=True)


class ComplianceRowOutput(serializers.Serializer):
    patient = serializers.IntegerField()
    name = serializers.CharField()
    due = serializers.IntegerField()
    taken = serializers.IntegerField()
    missed = serializers.IntegerField()
    last_collected_at = serializers.DateTimeField(allow_null=True)


class ComplianceOutput(serializers.Serializer):
    """Per patient of a cohort: tests due, taken, missed and the last collection. No
    results."""

    cohort = serializers.IntegerField()
    patients = ComplianceRowOutput(many=True)


def draw_payload(draw: Draw, selected: list[Any]) -> dict[str, Any]:
    """``selected``: the selected patients the reader may see (``selected_in_care``)."""
    return {
        "id": draw.pk,
        "cohort": draw.cohort_id,
        "date": draw.date,
        "rate": str(draw.rate),
        "drawn_by": draw.drawn_by_id,
        "drawn_at": draw.drawn_at,
        "pool_size": len(draw.pool),
        "selected": selected,
        "generator": draw.generator,
    }
