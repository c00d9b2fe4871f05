"""What every screening API shares: the paginated base view, the caller, input validation."""

from __future__ import annotations

from typing import Any, cast

from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from vioip.accounts.models import User
from vioip.core.metadata import Metadata


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def decimal_text(value: Any) -> str | None:
    return None if value is None else str(value)


class ScreeningApi(GenericAPIView):
    """Lists paginate with the project's paginator; each page's patients are audited."""

    # The stubs type this as an instance, but DRF instantiates the class it is given.
    metadata_class = Metadata  # type: ignore[assignment]

    def paged(self, request: Request, items: Any, render: Any) -> Response:
        page = self.paginate_queryset(items)
        rows = page if page is not None else list(items)
        data = render(rows)
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)


def caller(request: Request) -> User:
    """The authenticated caller (the default permission refuses anonymous requests)."""
    return cast(User, request.user)


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise serializers.ValidationError({name: ["A whole number is required."]}) from None
