"""Drug tests, results, medications and the analyte table: thin views over
``screening.drug_tests``. A single read writes one audit event with its patient, a list
page one event per patient on it, a FHIR export one export event."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common, fhir
from screening.analytes import ANALYTES
from screening.api_base import ScreeningApi, caller, filter_parameters, query_params, valid
from screening.drug_tests import selectors, services
from screening.drug_tests.filters import MedicationFilter, TestFilter
from screening.drug_tests.serializers import (
    AmendInput,
    AnalyteTableOutput,
    FhirBundleOutput,
    MedicationInput,
    MedicationOutput,
    ResultsInput,
    ReviewInput,
    TestCollectInput,
    TestCreateInput,
    TestOutput,
    test_payload,
)
from screening.models import DocumentedMedication, DrugTest
from screening.part2 import notice_block
from vioip.accounts.models import Role
from vioip.audit.models import Action
from vioip.core.permissions import IsPatient, has_role


def _render_tests(request: Request, tests: list[DrugTest], *, staff: bool) -> list[dict[str, Any]]:
    meds = selectors.medications_by_patient(patient_ids=[t.patient_id for t in tests])
    common.audit_page(
        user=caller(request), object_type="drug_test", items=[(t.pk, t.patient_id) for t in tests]
    )
    return [
        TestOutput(test_payload(t, meds.get(t.patient_id, []), staff=staff)).data for t in tests
    ]


class TestListCreateApi(ScreeningApi):
    @extend_schema(
        operation_id="screening_tests_list",
        parameters=filter_parameters(TestFilter),
        responses=TestOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List drug tests: a clinician's patients in care, a patient's own announced tests.

        One read event per patient on the page."""
        user = caller(request)
        params = query_params(TestFilter, request)
        qs = selectors.drug_tests_for_user(user=user, patient_id=params["patient"])
        staff = has_role(user, Role.CLINICIAN)
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=staff))

    @extend_schema(request=TestCreateInput, responses={201: TestOutput})
    def post(self, request: Request) -> Response:
        """Record a collected specimen for a patient in the caller's care (clinicians)."""
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
    payload = test_payload(test, meds.get(test.patient_id, []), staff=staff)
    return Response(TestOutput(payload).data, status=code)


class TestDetailApi(ScreeningApi):
    @extend_schema(responses=TestOutput)
    def get(self, request: Request, test_id: int) -> Response:
        """Read a drug test with its results and reviewed versions (audited)."""
        return _test_response(request, test_id)


class TestCollectApi(ScreeningApi):
    @extend_schema(request=TestCollectInput, responses=TestOutput)
    def post(self, request: Request, test_id: int) -> Response:
        """Record the collection of an ordered test, or the patient's refusal."""
        data = valid(TestCollectInput, request.data)
        test = services.test_collect(actor=caller(request), drug_test_id=test_id, **data)
        return _test_response(request, test.pk)


class TestResultsApi(ScreeningApi):
    @extend_schema(request=ResultsInput, responses=TestOutput)
    def post(self, request: Request, test_id: int) -> Response:
        """Record analyte results and validity values, repeatable until review."""
        data = valid(ResultsInput, request.data)
        test = services.test_record_results(
            actor=caller(request),
            drug_test_id=test_id,
            results=[dict(r) for r in data.get("results", [])],
            validity=dict(data["validity"]) if data.get("validity") else None,
        )
        return _test_response(request, test.pk)


class TestReviewApi(ScreeningApi):
    @extend_schema(request=ReviewInput, responses=TestOutput)
    def post(self, request: Request, test_id: int) -> Response:
        """Review a resulted test: its results become final."""
        data = valid(ReviewInput, request.data)
        test = services.test_review(
            actor=caller(request), drug_test_id=test_id, comment=data["comment"]
        )
        return _test_response(request, test.pk)


class TestAmendApi(ScreeningApi):
    @extend_schema(request=AmendInput, responses=TestOutput)
    def post(self, request: Request, test_id: int) -> Response:
        """Amend a reviewed test: a new version, the earlier ones kept."""
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
    @extend_schema(responses=FhirBundleOutput)
    def get(self, request: Request, test_id: int) -> Response:
        """Export a drug test's current version as a FHIR Bundle of Observations (audited)."""
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
        parameters=filter_parameters(MedicationFilter),
        responses=MedicationOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List a patient's documented medications (clinicians of their care team)."""
        patient_id = query_params(MedicationFilter, request)["patient"]
        meds = selectors.medications_for_user(user=caller(request), patient_id=patient_id)

        def render(rows: list[DocumentedMedication]) -> list[dict[str, Any]]:
            common.audit_read(
                user=caller(request),
                object_type="documented_medication",
                object_id="",
                patient=patient_id,
                detail={"ids": [m.pk for m in rows]},
            )
            return [MedicationOutput(m).data for m in rows]

        return self.paged(request, meds, render)

    @extend_schema(request=MedicationInput, responses={201: MedicationOutput})
    def post(self, request: Request) -> Response:
        """Document a medication that explains an expected positive result."""
        data = valid(MedicationInput, request.data)
        med = services.medication_record(
            actor=caller(request),
            patient_id=data["patient"],
            name=data["name"],
            start_date=data["start_date"],
            end_date=data.get("end_date"),
        )
        return Response(MedicationOutput(med).data, status=status.HTTP_201_CREATED)


class MyScreeningRecordsApi(ScreeningApi):
    """The patient's own tests and results (HIPAA right of access), no staff comments."""

    permission_classes = [IsPatient]

    @extend_schema(responses=TestOutput(many=True))
    def get(self, request: Request) -> Response:
        """List the caller's own drug tests and results (patients)."""
        qs = selectors.drug_tests_for_user(user=caller(request))
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=False))


class AnalyteTableApi(ScreeningApi):
    """The shipped analyte table and the current Part 2 notice. No patient data."""

    @extend_schema(responses=AnalyteTableOutput)
    def get(self, request: Request) -> Response:
        """Read the analyte table and the current notice against redisclosure."""
        table = {"analytes": [a.as_dict() for a in ANALYTES.values()], "notice": notice_block()}
        return Response(AnalyteTableOutput(table).data)
