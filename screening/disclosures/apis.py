"""Disclosures and the patient's accounting of them: thin views over
``screening.disclosures``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common
from screening.api_base import ScreeningApi, caller, int_param, valid
from screening.disclosures import selectors, services
from screening.disclosures.serializers import DisclosureInput, disclosure_summary
from screening.models import Disclosure
from vioip.core.permissions import IsPatient


def _render_disclosures(request: Request, rows: list[Disclosure]) -> list[dict[str, Any]]:
    common.audit_page(
        user=caller(request),
        object_type="disclosure",
        items=[(d.pk, d.patient_id) for d in rows],
    )
    return [disclosure_summary(d) for d in rows]


class DisclosureListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_disclosures_list",
        parameters=[OpenApiParameter("patient", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        qs = selectors.disclosures_for_user(
            user=caller(request), patient_id=int_param(request, "patient")
        )
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))

    @extend_schema(request=DisclosureInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = valid(DisclosureInput, request.data)
        disclosure = services.disclosure_create(
            actor=caller(request),
            consent_id=data["consent"],
            period_from=data["from"],
            period_to=data["to"],
            information=data.get("information"),
        )
        return Response(services.disclosure_package(disclosure), status=status.HTTP_201_CREATED)


class DisclosureDetailApi(ScreeningApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, disclosure_id: int) -> Response:
        disclosure = selectors.disclosure_for_user(
            user=caller(request), disclosure_id=disclosure_id
        )
        common.audit_read(
            user=caller(request),
            object_type="disclosure",
            object_id=disclosure.pk,
            patient=disclosure.patient_id,
        )
        return Response(
            {**disclosure_summary(disclosure), "package": services.disclosure_package(disclosure)}
        )


class MyDisclosuresApi(ScreeningApi):
    """Accounting of disclosures: every disclosure made about the caller."""

    permission_classes = [IsPatient]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        qs = selectors.disclosures_for_user(user=caller(request))
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))
