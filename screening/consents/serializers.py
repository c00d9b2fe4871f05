"""Consents: input and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.api_base import IdInput
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
    patient = IdInput()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices), allow_empty=False
    )
    recipient = RecipientInput()
    purpose = serializers.CharField(max_length=500)
    expires_on = serializers.DateField(required=False, allow_null=True)
    expires_at_end_of_treatment = serializers.BooleanField(default=False)
    signed_at = serializers.DateTimeField()
    signature_method = serializers.ChoiceField(choices=SignatureMethod.choices)
    discloser_cohort = IdInput(
        required=False,
        allow_null=True,
        help_text="The cohort permitted to disclose: one the patient is actively enrolled in "
        "and whose care team you are a clinician of. By default, your care cohort for the "
        "patient. Its name is written on the consent as the discloser.",
    )


class RevokeInput(serializers.Serializer):
    revoked_at = serializers.DateTimeField(required=False)


# --- Output ---------------------------------------------------------------------------------


class RecipientOutput(serializers.Serializer):
    name = serializers.CharField()
    organization = serializers.CharField(allow_blank=True)
    address = serializers.CharField(allow_blank=True)


class ConsentScopeOutput(serializers.Serializer):
    """What a consent allows: who discloses what to whom, why, until when."""

    consent = serializers.IntegerField()
    discloser = serializers.CharField(
        help_text="The program (cohort) that discloses, named as on the consent."
    )
    discloser_cohort = serializers.IntegerField(
        allow_null=True,
        required=False,
        help_text="The id of the cohort whose clinicians disclose and whose records a package "
        "holds. Null on an older consent whose discloser matched no single cohort of the "
        "patient's: it permits no disclosure. Absent from packages made before it existed.",
    )
    recipient = RecipientOutput()
    purpose = serializers.CharField()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices)
    )
    expires = serializers.CharField(help_text='A date (YYYY-MM-DD) or "end_of_treatment".')
    signed_at = serializers.DateTimeField()
    signature_method = serializers.ChoiceField(choices=SignatureMethod.choices)


class RevocationOutput(serializers.Serializer):
    revoked_at = serializers.DateTimeField()
    recorded_by = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()


class ConsentOutput(ConsentScopeOutput):
    id = serializers.IntegerField()
    discloser_cohort = serializers.IntegerField(
        allow_null=True,
        help_text="The id of the cohort whose clinicians disclose and whose records a package "
        "holds. Null on an older consent whose discloser matched no single cohort of the "
        "patient's: it permits no disclosure.",
    )
    patient = serializers.IntegerField()
    expires_on = serializers.DateField(allow_null=True)
    expires_at_end_of_treatment = serializers.BooleanField()
    state = serializers.CharField(help_text="active, revoked or expired.")
    revocation = RevocationOutput(allow_null=True)


class FhirConsentOutput(serializers.Serializer):
    """A FHIR R4 Consent resource (privacy consent, 42 CFR Part 2 security labels)."""

    resourceType = serializers.CharField()  # FHIR's name
    id = serializers.CharField()
    meta = serializers.JSONField()
    status = serializers.CharField()
    scope = serializers.JSONField()
    category = serializers.ListField(child=serializers.JSONField())
    patient = serializers.JSONField()
    dateTime = serializers.DateTimeField()  # FHIR's name
    organization = serializers.ListField(child=serializers.JSONField())
    policy = serializers.ListField(child=serializers.JSONField())
    provision = serializers.JSONField()


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
