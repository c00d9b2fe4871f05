"""Draws and compliance: input, filter and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.models import Draw


class DrawInput(serializers.Serializer):
    cohort = serializers.IntegerField()
    date = serializers.DateField()
    rate = serializers.DecimalField(max_digits=4, decimal_places=3)


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
