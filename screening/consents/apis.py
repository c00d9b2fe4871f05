"""Part 2 consents: thin views over ``screening.consents``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common, fhir
from screening.api_base import ScreeningApi, caller, filter_parameters, query_params, valid
from screening.consents import selectors, services
from screening.consents.filters import ConsentFilter
from screening.consents.serializers import (
    ConsentInput,
    ConsentOutput,
    FhirConsentOutput,
    RevokeInput,
    consent_payload,
)
from screening.models import Consent
from vioip.audit.models import Action


class ConsentListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_consents_list",
        parameters=filter_parameters(ConsentFilter),
        responses=ConsentOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List Part 2 consents: a clinician's patients in care, a patient's own."""
        patient_id = query_params(ConsentFilter, request)["patient"]
        qs = selectors.consents_for_user(user=caller(request), patient_id=patient_id)

        def render(rows: list[Consent]) -> list[dict[str, Any]]:
            common.audit_page(
                user=caller(request),
                object_type="consent",
                items=[(c.pk, c.patient_id) for c in rows],
            )
            return [ConsentOutput(consent_payload(c)).data for c in rows]

        return self.paged(request, qs, render)

    @extend_schema(request=ConsentInput, responses={201: ConsentOutput})
    def post(self, request: Request) -> Response:
        """Record a patient's signed consent to disclose (42 CFR 2.31)."""
        data = valid(ConsentInput, request.data)
        consent = services.consent_create(
            actor=caller(request),
            patient_id=data["patient"],
            information=data["information"],
            recipient=dict(data["recipient"]),
            purpose=data["purpose"],
            expires_on=data.get("expires_on"),
            expires_at_end_of_treatment=data["expires_at_end_of_treatment"],
            signed_at=data["signed_at"],
            signature_method=data["signature_method"],
            discloser_cohort_id=data.get("discloser_cohort"),
        )
        return Response(_consent_read(request, consent.pk), status=status.HTTP_201_CREATED)


def _consent_read(request: Request, consent_id: int) -> dict[str, Any]:
    consent = selectors.consent_for_user(user=caller(request), consent_id=consent_id)
    common.audit_read(
        user=caller(request),
        object_type="consent",
        object_id=consent.pk,
        patient=consent.patient_id,
    )
    return ConsentOutput(consent_payload(consent)).data


class ConsentDetailApi(ScreeningApi):
    @extend_schema(responses=ConsentOutput)
    def get(self, request: Request, consent_id: int) -> Response:
        """Read a consent and its state (audited)."""
        return Response(_consent_read(request, consent_id))


class ConsentFhirApi(ScreeningApi):
    @extend_schema(responses=FhirConsentOutput)
    def get(self, request: Request, consent_id: int) -> Response:
        """Export a consent as a FHIR Consent resource (audited)."""
        consent = selectors.consent_for_user(
            user=caller(request), consent_id=consent_id, attempted="export"
        )
        common.audit_read(
            user=caller(request),
            action=Action.EXPORT,
            object_type="consent",
            object_id=consent.pk,
            patient=consent.patient_id,
            detail={"format": "fhir"},
        )
        return Response(fhir.consent_resource(consent, state=selectors.consent_state(consent)))


class ConsentRevokeApi(ScreeningApi):
    @extend_schema(request=RevokeInput, responses=ConsentOutput)
    def post(self, request: Request, consent_id: int) -> Response:
        """Record the patient's revocation of a consent."""
        data = valid(RevokeInput, request.data)
        services.consent_revoke(
            actor=caller(request), consent_id=consent_id, revoked_at=data.get("revoked_at")
        )
        return Response(_consent_read(request, consent_id))
