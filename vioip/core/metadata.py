"""What an ``OPTIONS`` request answers."""

from __future__ import annotations

from typing import Any

from rest_framework.generics import GenericAPIView
from rest_framework.metadata import SimpleMetadata
from rest_framework.request import Request


class Metadata(SimpleMetadata):
    """DRF's metadata, without the body fields of views that name no serializer (they pick
    one per method). DRF would ask those views for their serializer and fail with a 500."""

    def determine_actions(self, request: Request, view: Any) -> dict[str, Any]:
        names_one = getattr(view, "serializer_class", None) is not None or (
            type(view).get_serializer_class is not GenericAPIView.get_serializer_class
        )
        if not names_one:
            return {}
        return super().determine_actions(request, view)
