"""Disclosures: input and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.api_base import IdInput, NoticeOutput
from screening.consents.serializers import ConsentScopeOutput, RecipientOutput
from screening.drug_tests.serializers import FhirBundleOutput
from screening.models import (
    Disclosure,
    InformationClass,
)


class DisclosureInput(serializers.Serializer):
    consent = IdInput()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices), required=False
    )

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        # "from" and "to" are the API's words but Python keywords.
        fields["from"] = serializers.DateField()
        fields["to"] = serializers.DateField()
        return fields


# --- Output ---------------------------------------------------------------------------------


def _with_period(fields: dict[str, Any]) -> dict[str, Any]:
    # "from" and "to" are the API's words but Python keywords.
    fields["from"] = serializers.DateField()
    fields["to"] = serializers.DateField()
    return fields


class DisclosureOutput(serializers.Serializer):
    """The record of a disclosure: who disclosed what to whom, when, for which period."""

    id = serializers.IntegerField()
    patient = serializers.IntegerField()
    consent = serializers.IntegerField()
    disclosed_at = serializers.DateTimeField()
    disclosed_by = serializers.CharField()
    recipient = RecipientOutput()
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices)
    )
    notice_version = serializers.CharField()

    def get_fields(self) -> dict[str, Any]:
        return _with_period(super().get_fields())


class PeriodOutput(serializers.Serializer):
    def get_fields(self) -> dict[str, Any]:
        return _with_period(super().get_fields())


class PackagePatientOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PackageResultOutput(serializers.Serializer):
    analyte = serializers.CharField()
    method = serializers.CharField()
    result = serializers.CharField()
    value = serializers.CharField(allow_null=True)


class PackageTestOutput(serializers.Serializer):
    test = serializers.IntegerField()
    collected_at = serializers.DateTimeField(allow_null=True)
    specimen = serializers.CharField()
    reason = serializers.CharField()
    observed = serializers.BooleanField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    overall = serializers.CharField(allow_null=True)
    validity_flags = serializers.ListField(child=serializers.CharField())
    results = PackageResultOutput(many=True)


class PackageEnrollmentOutput(serializers.Serializer):
    program = serializers.CharField()
    track = serializers.CharField()
    start_date = serializers.DateField()
    status = serializers.CharField()
    discharged_on = serializers.DateField(allow_null=True)
    discharge_reason = serializers.CharField(allow_null=True)


class PackageSessionOutput(serializers.Serializer):
    date = serializers.DateField()
    kind = serializers.CharField()
    status = serializers.CharField()
    minutes = serializers.IntegerField()


class PackageAttendanceOutput(serializers.Serializer):
    program = serializers.CharField()
    sessions = PackageSessionOutput(
        many=True, allow_null=True, help_text="Null when attendance is not available."
    )


class PackageTreatmentSummaryOutput(PackageEnrollmentOutput):
    aftercare_level = serializers.CharField(allow_null=True)
    sessions_attended = serializers.IntegerField(allow_null=True)
    sessions_missed = serializers.IntegerField(allow_null=True)
    sessions_excused = serializers.IntegerField(allow_null=True)
    hours_attended = serializers.FloatField(allow_null=True)


class PackageSectionsOutput(serializers.Serializer):
    """One section per information class disclosed."""

    screening_results = PackageTestOutput(many=True, required=False)
    enrollment_status = PackageEnrollmentOutput(many=True, required=False)
    attendance = PackageAttendanceOutput(many=True, required=False)
    treatment_summary = PackageTreatmentSummaryOutput(many=True, required=False)


class LeftOutOutput(serializers.Serializer):
    """Records of the discloser's own left out of the package, and why: kinds, counts and
    reason codes only. Another program's records are never mentioned (their existence is
    itself Part 2 information)."""

    kind = serializers.CharField(help_text="An information class, drug_test or enrollment.")
    count = serializers.IntegerField(allow_null=True, help_text="Null for a whole class.")
    reason = serializers.CharField(
        help_text="not_requested, not_consented, outside_period, outside_consent_dates "
        "or not_final."
    )


class DisclosurePackageOutput(serializers.Serializer):
    """What the recipient receives: the notice against redisclosure first, the consent's
    scope, the sections disclosed, what was left out, and the same as a FHIR Bundle."""

    notice = NoticeOutput()
    consent_scope = ConsentScopeOutput()
    patient = PackagePatientOutput()
    period = PeriodOutput(help_text="The period asked.")
    records_period = PeriodOutput(help_text="The period asked, inside the consent's dates.")
    information = serializers.ListField(
        child=serializers.ChoiceField(choices=InformationClass.choices)
    )
    disclosed_at = serializers.DateTimeField()
    disclosed_by = serializers.CharField()
    sections = PackageSectionsOutput()
    left_out = LeftOutOutput(many=True)
    fhir = FhirBundleOutput()
    disclosure = serializers.IntegerField()


class DisclosureDetailOutput(DisclosureOutput):
    package = DisclosurePackageOutput()


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
