"""Drug tests, results, medications and the analyte table: thin views over
``screening.drug_tests``. A single read writes one audit event with its patient, a list
page one event per patient on it, a FHIR export one export event."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common, fhir
from screening.analytes import ANALYTES
from screening.api_base import ScreeningApi, caller, int_param, valid
from screening.drug_tests import selectors, services
from screening.drug_tests.serializers import (
    AmendInput,
    MedicationInput,
    ResultsInput,
    ReviewInput,
    TestCollectInput,
    TestCreateInput,
    _medication_payload,
    test_payload,
)
from screening.models import (
    DocumentedMedication,
    DrugTest,
)
from screening.part2 import notice_block
from vioip.accounts.models import Role
from vioip.audit.models import Action
from vioip.core.permissions import IsPatient, has_role


def _render_tests(request: Request, tests: list[DrugTest], *, staff: bool) -> list[dict[str, Any]]:
    meds = selectors.medications_by_patient(patient_ids=[t.patient_id for t in tests])
    common.audit_page(
        user=caller(request), object_type="drug_test", items=[(t.pk, t.patient_id) for t in tests]
    )
    return [test_payload(t, meds.get(t.patient_id, []), staff=staff) for t in tests]


class TestListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_tests_list",
        parameters=[OpenApiParameter("patient", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        user = caller(request)
        qs = selectors.drug_tests_for_user(user=user, patient_id=int_param(request, "patient"))
        staff = has_role(user, Role.CLINICIAN)
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=staff))

    @extend_schema(request=TestCreateInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = valid(TestCreateInput, request.data)
        test = services.test_create(
            actor=caller(request),
            patient_id=data["patient"],
            collected_at=data["collected_at"],
            specimen=data["specimen"],
            observed=data["observed"],
            reason=data["reason"],
            chain_of_custody_id=data.get("chain_of_custody_id", ""),
        )
        return _test_response(request, test.pk, status.HTTP_201_CREATED)


def _test_response(request: Request, test_id: int, code: int = status.HTTP_200_OK) -> Response:
    test = selectors.drug_test_for_user(user=caller(request), drug_test_id=test_id)
    common.audit_read(
        user=caller(request), object_type="drug_test", object_id=test.pk, patient=test.patient_id
    )
    meds = selectors.medications_by_patient(patient_ids=[test.patient_id])
    staff = has_role(caller(request), Role.CLINICIAN)
    return Response(test_payload(test, meds.get(test.patient_id, []), staff=staff), status=code)


class TestDetailApi(ScreeningApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, test_id: int) -> Response:
        return _test_response(request, test_id)


class TestCollectApi(ScreeningApi):
    @extend_schema(request=TestCollectInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = valid(TestCollectInput, request.data)
        test = services.test_collect(actor=caller(request), drug_test_id=test_id, **data)
        return _test_response(request, test.pk)


class TestResultsApi(ScreeningApi):
    @extend_schema(request=ResultsInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = valid(ResultsInput, request.data)
        test = services.test_record_results(
            actor=caller(request),
            drug_test_id=test_id,
            results=[dict(r) for r in data.get("results", [])],
            validity=dict(data["validity"]) if data.get("validity") else None,
        )
        return _test_response(request, test.pk)


class TestReviewApi(ScreeningApi):
    @extend_schema(request=ReviewInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = valid(ReviewInput, request.data)
        test = services.test_review(
            actor=caller(request), drug_test_id=test_id, comment=data["comment"]
        )
        return _test_response(request, test.pk)


class TestAmendApi(ScreeningApi):
    @extend_schema(request=AmendInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = valid(AmendInput, request.data)
        test = services.test_amend(
            actor=caller(request),
            drug_test_id=test_id,
            reason=data["reason"],
            results=[dict(r) for r in data.get("results", [])],
            validity=dict(data["validity"]) if data.get("validity") else None,
            comment=data.get("comment"),
        )
        return _test_response(request, test.pk)


class TestFhirApi(ScreeningApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, test_id: int) -> Response:
        test = selectors.drug_test_for_user(
            user=caller(request), drug_test_id=test_id, attempted="export"
        )
        common.audit_read(
            user=caller(request),
            action=Action.EXPORT,
            object_type="drug_test",
            object_id=test.pk,
            patient=test.patient_id,
            detail={"format": "fhir"},
        )
        meds = selectors.medications_by_patient(patient_ids=[test.patient_id])
        state = selectors.test_states(test, meds.get(test.patient_id, []))[-1]
        return Response(fhir.test_bundle(test, state))


class MedicationListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_medications_list",
        parameters=[OpenApiParameter("patient", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        patient_id = int_param(request, "patient")
        if patient_id is None:
            raise serializers.ValidationError({"patient": ["This parameter is required."]})
        meds = selectors.medications_for_user(user=caller(request), patient_id=patient_id)

        def render(rows: list[DocumentedMedication]) -> list[dict[str, Any]]:
            common.audit_read(
                user=caller(request),
                object_type="documented_medication",
                object_id="",
                patient=patient_id,
                detail={"ids": [m.pk for m in rows]},
            )
            return [_medication_payload(m) for m in rows]

        return self.paged(request, meds, render)

    @extend_schema(request=MedicationInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = valid(MedicationInput, request.data)
        med = services.medication_record(
            actor=caller(request),
            patient_id=data["patient"],
            name=data["name"],
            start_date=data["start_date"],
            end_date=data.get("end_date"),
        )
        return Response(_medication_payload(med), status=status.HTTP_201_CREATED)


class MyScreeningRecordsApi(ScreeningApi):
    """The patient's own tests and results (HIPAA right of access), no staff comments."""

    permission_classes = [IsPatient]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        qs = selectors.drug_tests_for_user(user=caller(request))
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=False))


class AnalyteTableApi(ScreeningApi):
    """The shipped analyte table and the current Part 2 notice. No patient data."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(
            {"analytes": [a.as_dict() for a in ANALYTES.values()], "notice": notice_block()}
        )
