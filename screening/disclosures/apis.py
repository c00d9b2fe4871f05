"""Disclosures and the patient's accounting of them: thin views over
``screening.disclosures``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common
from screening.api_base import ScreeningApi, caller, filter_parameters, query_params, valid
from screening.disclosures import selectors, services
from screening.disclosures.filters import DisclosureFilter
from screening.disclosures.serializers import (
    DisclosureDetailOutput,
    DisclosureInput,
    DisclosureOutput,
    DisclosurePackageOutput,
    disclosure_summary,
)
from screening.models import Disclosure
from vioip.core.permissions import IsPatient


def _render_disclosures(request: Request, rows: list[Disclosure]) -> list[dict[str, Any]]:
    common.audit_page(
        user=caller(request),
        object_type="disclosure",
        items=[(d.pk, d.patient_id) for d in rows],
    )
    return [DisclosureOutput(disclosure_summary(d)).data for d in rows]


class DisclosureListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_disclosures_list",
        parameters=filter_parameters(DisclosureFilter),
        responses=DisclosureOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List disclosures: a clinician's patients in care, a patient's own accounting."""
        patient_id = query_params(DisclosureFilter, request)["patient"]
        qs = selectors.disclosures_for_user(user=caller(request), patient_id=patient_id)
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))

    @extend_schema(request=DisclosureInput, responses={201: DisclosurePackageOutput})
    def post(self, request: Request) -> Response:
        """Disclose under a consent: the package for its recipient (42 CFR 2.31-2.33).

        The stored package is returned as it was made: it is the record of what was sent."""
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
    @extend_schema(responses=DisclosureDetailOutput)
    def get(self, request: Request, disclosure_id: int) -> Response:
        """Read a disclosure with the package that was sent (audited)."""
        disclosure = selectors.disclosure_for_user(
            user=caller(request), disclosure_id=disclosure_id
        )
        common.audit_read(
            user=caller(request),
            object_type="disclosure",
            object_id=disclosure.pk,
            patient=disclosure.patient_id,
        )
        summary = DisclosureOutput(disclosure_summary(disclosure)).data
        return Response({**summary, "package": services.disclosure_package(disclosure)})


class MyDisclosuresApi(ScreeningApi):
    """Accounting of disclosures: every disclosure made about the caller."""

    permission_classes = [IsPatient]

    @extend_schema(responses=DisclosureOutput(many=True))
    def get(self, request: Request) -> Response:
        """List every disclosure made about the caller (patients' accounting)."""
        qs = selectors.disclosures_for_user(user=caller(request))
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))
