"""What every screening API shares: the paginated base view, the caller, input validation,
and query parameters parsed one way (django-filter ``FilterSet`` classes, one per list, in
each sub-domain's ``filters``): a bad value answers 400 naming the parameter."""

from __future__ import annotations

from typing import Any, cast

import django_filters
from django import forms
from django_filters.utils import translate_validation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from screening.common import MAX_ID
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
    # Each view parses its query parameters with its FilterSet (``query_params``) and hands
    # them to a selector, which filters and checks access: no generic filter backend.
    filter_backends: list[Any] = []

    def paged(self, request: Request, items: Any, render: Any) -> Response:
        page = self.paginate_queryset(items)
        rows = page if page is not None else list(items)
        data = render(rows)
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)


class NoticeOutput(serializers.Serializer):
    """The notice against redisclosure (42 CFR 2.32)."""

    version = serializers.CharField()
    text = serializers.CharField()
    citation = serializers.CharField()


def caller(request: Request) -> User:
    """The authenticated caller (the default permission refuses anonymous requests)."""
    return cast(User, request.user)


class IdInput(serializers.IntegerField):
    """A record id in a request body: a whole number the database can hold."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class IdFilter(django_filters.NumberFilter):
    """A record id in the query string: a whole number the database can hold."""

    field_class = IdField


class DayFilter(django_filters.DateFilter):
    """A calendar day (YYYY-MM-DD)."""


_PARAMETER_TYPES: list[tuple[type[django_filters.Filter], Any]] = [
    (IdFilter, OpenApiTypes.INT),
    (django_filters.DateFilter, OpenApiTypes.DATE),
    (django_filters.NumberFilter, OpenApiTypes.NUMBER),
    (django_filters.CharFilter, OpenApiTypes.STR),
]


def filter_parameters(filterset_class: type[django_filters.FilterSet]) -> list[OpenApiParameter]:
    """The query parameters a FilterSet parses, for ``extend_schema(parameters=...)``."""
    parameters = []
    for name, item in filterset_class.base_filters.items():
        kind = next(t for cls, t in _PARAMETER_TYPES if isinstance(item, cls))
        parameters.append(
            OpenApiParameter(
                name,
                kind,
                required=bool(item.extra.get("required")),
                description=str(item.label or ""),
            )
        )
    return parameters


def query_params(
    filterset_class: type[django_filters.FilterSet], request: Request
) -> dict[str, Any]:
    """The request's query parameters as ``filterset_class`` parses them (missing optional
    ones are None); a bad value is a 400 whose fields name the parameters. The selectors do
    the filtering: a parameter that names a patient is an access question too."""
    model = filterset_class._meta.model
    filterset = filterset_class(request.query_params, queryset=model._default_manager.none())
    if not filterset.is_valid():
        raise translate_validation(filterset.errors)
    return dict(filterset.form.cleaned_data)
