"""Disclosures: input, filter and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.models import (
    Disclosure,
    InformationClass,
)


class DisclosureInput(serializers.Serializer):
    consent = serializers.IntegerField()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices), required=False
    )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # "from" and "to" are the API's words but Python keywords.
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


def disclosure_summary(disclosure: Disclosure) -> dict[str, Any]:
    return {
        "id": disclosure.pk,
        "patient": disclosure.patient_id,
        "consent": disclosure.consent_id,
        "disclosed_at": disclosure.disclosed_at,
        "disclosed_by": disclosure.disclosed_by.get_full_name() or disclosure.disclosed_by.username,
        "recipient": disclosure.recipient,
        "information": disclosure.information,
        "from": disclosure.period_from,
        "to": disclosure.period_to,
        "notice_version": disclosure.notice_version,
    }
