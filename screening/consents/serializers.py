"""Consents: input, filter and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.consents import selectors, services
from screening.models import (
    Consent,
    InformationClass,
    SignatureMethod,
)


class RecipientInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    organization = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(max_length=500, required=False, allow_blank=True)


class ConsentInput(serializers.Serializer):
    patient = serializers.IntegerField()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices), allow_empty=False
    )
    recipient = RecipientInput()
    purpose = serializers.CharField(max_length=500)
    expires_on = serializers.DateField(required=False, allow_null=True)
    expires_at_end_of_treatment = serializers.BooleanField(default=False)
    signed_at = serializers.DateTimeField()
    signature_method = serializers.ChoiceField(choices=SignatureMethod.choices)


class RevokeInput(serializers.Serializer):
    revoked_at = serializers.DateTimeField(required=False)


def consent_payload(consent: Consent) -> dict[str, Any]:
    revocation = getattr(consent, "revocation", None)
    return {
        **services.consent_scope(consent),
        "id": consent.pk,
        "patient": consent.patient_id,
        "expires_on": consent.expires_on,
        "expires_at_end_of_treatment": consent.expires_at_end_of_treatment,
        "state": selectors.consent_state(consent),
        "revocation": {
            "revoked_at": revocation.revoked_at,
            "recorded_by": revocation.recorded_by_id,
            "recorded_at": revocation.recorded_at,
        }
        if revocation
        else None,
    }
