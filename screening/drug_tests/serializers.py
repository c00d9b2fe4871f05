"""Drug tests: input, filter and output serializers."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from screening.analytes import ANALYTES
from screening.api_base import IdInput, NoticeOutput, decimal_text
from screening.drug_tests import selectors
from screening.models import (
    DocumentedMedication,
    DrugTest,
    MedicationName,
    Method,
    Reason,
    ResultValue,
    Specimen,
    TestStatus,
)


class TestCreateInput(serializers.Serializer):
    patient = IdInput()
    collected_at = serializers.DateTimeField()
    specimen = serializers.ChoiceField(choices=Specimen.choices)
    observed = serializers.BooleanField()
    reason = serializers.ChoiceField(choices=Reason.choices)
    chain_of_custody_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class TestCollectInput(serializers.Serializer):
    refused = serializers.BooleanField(default=False)
    collected_at = serializers.DateTimeField(required=False)
    specimen = serializers.ChoiceField(choices=Specimen.choices, required=False)
    observed = serializers.BooleanField(default=False)
    chain_of_custody_id = serializers.CharField(max_length=64, required=False, allow_blank=True)


class ResultLineInput(serializers.Serializer):
    analyte = serializers.CharField(max_length=8)
    result = serializers.ChoiceField(choices=ResultValue.choices)
    method = serializers.ChoiceField(choices=Method.choices, default=Method.SCREEN)
    value = serializers.DecimalField(
        max_digits=12, decimal_places=4, required=False, allow_null=True, min_value=0
    )
    confirmation_requested = serializers.BooleanField(default=False)

    def validate_analyte(self, value: str) -> str:
        if value not in ANALYTES:
            raise serializers.ValidationError("Unknown analyte code.")
        return value


class ValidityInput(serializers.Serializer):
    creatinine = serializers.DecimalField(
        max_digits=8, decimal_places=3, required=False, allow_null=True, min_value=0
    )
    specific_gravity = serializers.DecimalField(
        max_digits=6, decimal_places=4, required=False, allow_null=True, min_value=0
    )
    ph = serializers.DecimalField(
        max_digits=4, decimal_places=2, required=False, allow_null=True, min_value=0, max_value=14
    )
    nitrite = serializers.DecimalField(
        max_digits=8, decimal_places=2, required=False, allow_null=True, min_value=0
    )


class ResultsInput(serializers.Serializer):
    results = ResultLineInput(many=True, required=False, default=list)
    validity = ValidityInput(required=False)


class ReviewInput(serializers.Serializer):
    comment = serializers.CharField(max_length=10000, allow_blank=True, default="")


class AmendInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    results = ResultLineInput(many=True, required=False, default=list)
    validity = ValidityInput(required=False)
    comment = serializers.CharField(max_length=10000, required=False, allow_blank=True)


class MedicationInput(serializers.Serializer):
    patient = IdInput()
    name = serializers.ChoiceField(choices=MedicationName.choices)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)


# --- Output ---------------------------------------------------------------------------------


class ResultLineOutput(serializers.Serializer):
    analyte = serializers.CharField()
    method = serializers.ChoiceField(choices=Method.choices)
    result = serializers.ChoiceField(choices=ResultValue.choices)
    value = serializers.CharField(allow_null=True, help_text="A decimal, as text.")
    confirmation_requested = serializers.BooleanField()
    recorded_at = serializers.DateTimeField()


class ValidityOutput(serializers.Serializer):
    creatinine = serializers.CharField(allow_null=True)
    specific_gravity = serializers.CharField(allow_null=True)
    ph = serializers.CharField(allow_null=True)
    nitrite = serializers.CharField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())


OVERALL_HELP = (
    "negative, positive, positive_expected (explained by a documented medication), "
    "invalid, dilute, refused or no_show; null while there is nothing to interpret."
)


class TestVersionOutput(serializers.Serializer):
    """A reviewed version. Staff also see who reviewed it, the comment and the reason for
    an amendment; the patient does not."""

    number = serializers.IntegerField()
    reviewed_at = serializers.DateTimeField()
    overall = serializers.CharField(allow_null=True, help_text=OVERALL_HELP)
    results = ResultLineOutput(many=True)
    validity = ValidityOutput()
    reviewed_by = serializers.IntegerField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True)
    amendment_reason = serializers.CharField(required=False, allow_blank=True)


class TestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField()
    cohort = serializers.IntegerField()
    reason = serializers.ChoiceField(choices=Reason.choices)
    specimen = serializers.ChoiceField(choices=Specimen.choices, allow_null=True)
    observed = serializers.BooleanField()
    chain_of_custody_id = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=TestStatus.choices)
    collected_at = serializers.DateTimeField(allow_null=True)
    due_by = serializers.DateTimeField(allow_null=True)
    draw = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    overall = serializers.CharField(allow_null=True, help_text=OVERALL_HELP)
    validity = ValidityOutput()
    results = ResultLineOutput(many=True)
    versions = TestVersionOutput(many=True)


class MedicationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    name = serializers.ChoiceField(choices=MedicationName.choices)
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)


class LoincOutput(serializers.Serializer):
    code = serializers.CharField()
    display = serializers.CharField()


class CutoffOutput(serializers.Serializer):
    screen = serializers.FloatField(allow_null=True)
    confirmation = serializers.FloatField(allow_null=True)
    unit = serializers.CharField()
    # A field named like Field.source: DRF pops declared fields off the class.
    source = serializers.CharField()  # type: ignore[assignment]


class AnalyteOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    drug_class = serializers.CharField()
    loinc = serializers.DictField(child=LoincOutput(), help_text="By specimen.")
    cutoffs = serializers.DictField(child=CutoffOutput(), help_text="By specimen.")
    note = serializers.CharField(allow_blank=True)


class AnalyteTableOutput(serializers.Serializer):
    analytes = AnalyteOutput(many=True)
    notice = NoticeOutput()


class FhirBundleOutput(serializers.Serializer):
    """A FHIR R4 Bundle (type collection); its entries are FHIR resources."""

    resourceType = serializers.CharField()  # FHIR's name
    id = serializers.CharField(required=False)
    meta = serializers.JSONField()
    type = serializers.CharField()
    timestamp = serializers.DateTimeField()
    entry = serializers.ListField(child=serializers.JSONField())


def _results_payload(state: selectors.VersionState) -> list[dict[str, Any]]:
    return [
        {
            "analyte": r.analyte,
            "method": r.method,
            "result": r.result,
            "value": decimal_text(r.value),
            "confirmation_requested": r.confirmation_requested,
            "recorded_at": r.recorded_at,
        }
        for r in state.results
    ]


def _validity_payload(state: selectors.VersionState) -> dict[str, Any]:
    v = state.validity
    return {
        "creatinine": decimal_text(v.creatinine) if v else None,
        "specific_gravity": decimal_text(v.specific_gravity) if v else None,
        "ph": decimal_text(v.ph) if v else None,
        "nitrite": decimal_text(v.nitrite) if v else None,
        "flags": state.flags,
    }


def test_payload(
    test: DrugTest, meds: list[DocumentedMedication], *, staff: bool
) -> dict[str, Any]:
    states = selectors.test_states(test, meds)
    current = states[-1]
    versions = []
    for state in states:
        if state.review is None:
            continue
        entry: dict[str, Any] = {
            "number": state.number,
            "reviewed_at": state.review.reviewed_at,
            "overall": state.overall,
            "results": _results_payload(state),
            "validity": _validity_payload(state),
        }
        if staff:
            entry["reviewed_by"] = state.review.reviewed_by_id
            entry["comment"] = state.review.comment
            entry["amendment_reason"] = state.review.amendment_reason
        versions.append(entry)
    return {
        "id": test.pk,
        "patient": test.patient_id,
        "cohort": test.cohort_id,
        "reason": test.reason,
        "specimen": test.specimen or None,
        "observed": test.observed,
        "chain_of_custody_id": test.chain_of_custody_id,
        "status": test.status,
        "collected_at": test.collected_at,
        "due_by": test.due_by,
        "draw": test.draw_id,
        "version": test.version,
        "overall": current.overall,
        "validity": _validity_payload(current),
        "results": _results_payload(current),
        "versions": versions,
    }
