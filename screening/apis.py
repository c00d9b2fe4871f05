"""Screening API: thin views over ``screening.selectors`` and ``screening.services``.

Every record is reached through its door in ``screening.selectors``; a record the caller
may not see raises ``NotVisible`` (the standard 404 and an audited denial, written by the
exception handler). A single read writes one audit event with its patient, a list page
one event per patient on it, a FHIR export one export event.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from screening import fhir, selectors, services
from screening.analytes import ANALYTES
from screening.models import (
    Consent,
    Disclosure,
    DocumentedMedication,
    Draw,
    DrugTest,
    InformationClass,
    MedicationName,
    Method,
    Reason,
    ResultValue,
    SignatureMethod,
    Specimen,
)
from screening.part2 import notice_block
from vioip.accounts.models import Role, User
from vioip.audit.models import Action
from vioip.core.metadata import Metadata
from vioip.core.permissions import IsClinician, IsPatient, IsStaff, has_role

# --- Input serializers --------------------------------------------------------------------


class TestCreateInput(serializers.Serializer):
    patient = serializers.IntegerField()
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


class DrawInput(serializers.Serializer):
    cohort = serializers.IntegerField()
    date = serializers.DateField()
    rate = serializers.DecimalField(max_digits=4, decimal_places=3)


class MedicationInput(serializers.Serializer):
    patient = serializers.IntegerField()
    name = serializers.ChoiceField(choices=MedicationName.choices)
    start_date = serializers.DateField()
    end_date = serializers.DateField(required=False, allow_null=True)


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


def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


# --- Output --------------------------------------------------------------------------------


def _dec(value: Any) -> str | None:
    return None if value is None else str(value)


def _results_payload(state: selectors.VersionState) -> list[dict[str, Any]]:
    return [
        {
            "analyte": r.analyte,
            "method": r.method,
            "result": r.result,
            "value": _dec(r.value),
            "confirmation_requested": r.confirmation_requested,
            "recorded_at": r.recorded_at,
        }
        for r in state.results
    ]


def _validity_payload(state: selectors.VersionState) -> dict[str, Any]:
    v = state.validity
    return {
        "creatinine": _dec(v.creatinine) if v else None,
        "specific_gravity": _dec(v.specific_gravity) if v else None,
        "ph": _dec(v.ph) if v else None,
        "nitrite": _dec(v.nitrite) if v else None,
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


def draw_payload(draw: Draw, selected: list[Any]) -> dict[str, Any]:
    """``selected``: the selected patients the reader may see (``selected_in_care``)."""
    return {
        "id": draw.pk,
        "cohort": draw.cohort_id,
        "date": draw.date,
        "rate": str(draw.rate),
        "drawn_by": draw.drawn_by_id,
        "drawn_at": draw.drawn_at,
        "pool_size": len(draw.pool),
        "selected": selected,
        "generator": draw.generator,
    }


# --- Views -----------------------------------------------------------------------------------


class _Base(GenericAPIView):
    """Lists paginate with the project's paginator; each page's patients are audited."""

    # The stubs type this as an instance, but DRF instantiates the class it is given.
    metadata_class = Metadata  # type: ignore[assignment]

    def paged(self, request: Request, items: Any, render: Any) -> Response:
        page = self.paginate_queryset(items)
        rows = page if page is not None else list(items)
        data = render(rows)
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)


def _caller(request: Request) -> User:
    """The authenticated caller (the default permission refuses anonymous requests)."""
    return cast(User, request.user)


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise serializers.ValidationError({name: ["A whole number is required."]}) from None


def _render_tests(request: Request, tests: list[DrugTest], *, staff: bool) -> list[dict[str, Any]]:
    meds = selectors.medications_by_patient(patient_ids=[t.patient_id for t in tests])
    selectors.audit_page(
        user=_caller(request), object_type="drug_test", items=[(t.pk, t.patient_id) for t in tests]
    )
    return [test_payload(t, meds.get(t.patient_id, []), staff=staff) for t in tests]


class TestListCreateApi(_Base):
    @extend_schema(
        operation_id="screening_tests_list",
        parameters=[OpenApiParameter("patient", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        user = _caller(request)
        qs = selectors.drug_tests_for_user(user=user, patient_id=_int_param(request, "patient"))
        staff = has_role(user, Role.CLINICIAN)
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=staff))

    @extend_schema(request=TestCreateInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = _valid(TestCreateInput, request.data)
        test = services.test_create(
            actor=_caller(request),
            patient_id=data["patient"],
            collected_at=data["collected_at"],
            specimen=data["specimen"],
            observed=data["observed"],
            reason=data["reason"],
            chain_of_custody_id=data.get("chain_of_custody_id", ""),
        )
        return _test_response(request, test.pk, status.HTTP_201_CREATED)


def _test_response(request: Request, test_id: int, code: int = status.HTTP_200_OK) -> Response:
    test = selectors.drug_test_for_user(user=_caller(request), drug_test_id=test_id)
    selectors.audit_read(
        user=_caller(request), object_type="drug_test", object_id=test.pk, patient=test.patient_id
    )
    meds = selectors.medications_by_patient(patient_ids=[test.patient_id])
    staff = has_role(_caller(request), Role.CLINICIAN)
    return Response(test_payload(test, meds.get(test.patient_id, []), staff=staff), status=code)


class TestDetailApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, test_id: int) -> Response:
        return _test_response(request, test_id)


class TestCollectApi(_Base):
    @extend_schema(request=TestCollectInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = _valid(TestCollectInput, request.data)
        test = services.test_collect(actor=_caller(request), drug_test_id=test_id, **data)
        return _test_response(request, test.pk)


class TestResultsApi(_Base):
    @extend_schema(request=ResultsInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = _valid(ResultsInput, request.data)
        test = services.test_record_results(
            actor=_caller(request),
            drug_test_id=test_id,
            results=[dict(r) for r in data.get("results", [])],
            validity=dict(data["validity"]) if data.get("validity") else None,
        )
        return _test_response(request, test.pk)


class TestReviewApi(_Base):
    @extend_schema(request=ReviewInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = _valid(ReviewInput, request.data)
        test = services.test_review(
            actor=_caller(request), drug_test_id=test_id, comment=data["comment"]
        )
        return _test_response(request, test.pk)


class TestAmendApi(_Base):
    @extend_schema(request=AmendInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, test_id: int) -> Response:
        data = _valid(AmendInput, request.data)
        test = services.test_amend(
            actor=_caller(request),
            drug_test_id=test_id,
            reason=data["reason"],
            results=[dict(r) for r in data.get("results", [])],
            validity=dict(data["validity"]) if data.get("validity") else None,
            comment=data.get("comment"),
        )
        return _test_response(request, test.pk)


class TestFhirApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, test_id: int) -> Response:
        test = selectors.drug_test_for_user(
            user=_caller(request), drug_test_id=test_id, attempted="export"
        )
        selectors.audit_read(
            user=_caller(request),
            action=Action.EXPORT,
            object_type="drug_test",
            object_id=test.pk,
            patient=test.patient_id,
            detail={"format": "fhir"},
        )
        meds = selectors.medications_by_patient(patient_ids=[test.patient_id])
        state = selectors.test_states(test, meds.get(test.patient_id, []))[-1]
        return Response(fhir.test_bundle(test, state))


def _render_draws(request: Request, rows: list[Draw]) -> list[dict[str, Any]]:
    # Who was selected is about each selected patient: one event per patient shown.
    selected = selectors.selected_in_care(user=_caller(request), draws=rows)
    selectors.audit_page(
        user=_caller(request),
        object_type="screening_draw",
        items=[(d.pk, patient_id) for d in rows for patient_id in selected[d.pk]],
    )
    return [draw_payload(d, selected[d.pk]) for d in rows]


class DrawListCreateApi(_Base):
    permission_classes = [IsClinician]

    @extend_schema(
        operation_id="screening_draws_list",
        parameters=[OpenApiParameter("cohort", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        qs = selectors.draws_for_user(
            user=_caller(request), cohort_id=_int_param(request, "cohort")
        )
        return self.paged(request, qs, lambda rows: _render_draws(request, rows))

    @extend_schema(request=DrawInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = _valid(DrawInput, request.data)
        draw = services.draw_create(
            actor=_caller(request), cohort_id=data["cohort"], date=data["date"], rate=data["rate"]
        )
        return Response(draw_payload(draw, draw.selected), status=status.HTTP_201_CREATED)


class DrawDetailApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, draw_id: int) -> Response:
        draw = selectors.draw_for_user(user=_caller(request), draw_id=draw_id)
        return Response(_render_draws(request, [draw])[0])


def _render_draw_notices(
    request: Request, rows: list[selectors.DrawNotice]
) -> list[dict[str, Any]]:
    # Who is due is about each patient named: one event per patient shown.
    selectors.audit_page(
        user=_caller(request),
        object_type="screening_draw",
        items=[(n.draw.pk, p.pk) for n in rows for p in n.due],
    )
    return [
        {
            "id": n.draw.pk,
            "cohort": n.draw.cohort_id,
            "date": n.draw.date,
            "selected_count": len(n.draw.selected),
            "announced": n.announced,
            "due": [{"patient": p.pk, "name": p.display_name} for p in n.due]
            if n.announced
            else None,
        }
        for n in rows
    ]


class DrawScheduleApi(_Base):
    """A cohort's random draws for its staff: day and number selected; from the day on,
    who is due. Who was selected stays with the clinicians (``/draws/``) until then."""

    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="screening_draw_schedule",
        parameters=[OpenApiParameter("cohort", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        cohort_id = _int_param(request, "cohort")
        if cohort_id is None:
            raise serializers.ValidationError({"cohort": ["This parameter is required."]})
        _, notices = selectors.draw_schedule_for_user(user=_caller(request), cohort_id=cohort_id)
        return self.paged(request, notices, lambda rows: _render_draw_notices(request, rows))


def _medication_payload(med: DocumentedMedication) -> dict[str, Any]:
    return {
        "id": med.pk,
        "patient": med.patient_id,
        "name": med.name,
        "start_date": med.start_date,
        "end_date": med.end_date,
    }


class MedicationListCreateApi(_Base):
    @extend_schema(
        operation_id="screening_medications_list",
        parameters=[OpenApiParameter("patient", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        patient_id = _int_param(request, "patient")
        if patient_id is None:
            raise serializers.ValidationError({"patient": ["This parameter is required."]})
        meds = selectors.medications_for_user(user=_caller(request), patient_id=patient_id)

        def render(rows: list[DocumentedMedication]) -> list[dict[str, Any]]:
            selectors.audit_read(
                user=_caller(request),
                object_type="documented_medication",
                object_id="",
                patient=patient_id,
                detail={"ids": [m.pk for m in rows]},
            )
            return [_medication_payload(m) for m in rows]

        return self.paged(request, meds, render)

    @extend_schema(request=MedicationInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = _valid(MedicationInput, request.data)
        med = services.medication_record(
            actor=_caller(request),
            patient_id=data["patient"],
            name=data["name"],
            start_date=data["start_date"],
            end_date=data.get("end_date"),
        )
        return Response(_medication_payload(med), status=status.HTTP_201_CREATED)


class ComplianceApi(_Base):
    """Per patient of a cohort: tests due, taken, missed, last collection. No results."""

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=[
            OpenApiParameter("cohort", int, required=True),
            OpenApiParameter("from", OpenApiTypes.DATE, required=False),
            OpenApiParameter("to", OpenApiTypes.DATE, required=False),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        cohort_id = _int_param(request, "cohort")
        if cohort_id is None:
            raise serializers.ValidationError({"cohort": ["This parameter is required."]})
        dates = serializers.DateField(required=False)
        start = (
            dates.to_internal_value(request.query_params["from"])
            if request.query_params.get("from")
            else None
        )
        end = (
            dates.to_internal_value(request.query_params["to"])
            if request.query_params.get("to")
            else None
        )
        cohort = selectors.compliance_cohort_for_user(user=_caller(request), cohort_id=cohort_id)
        patients = selectors.compliance_patients(cohort=cohort)
        rows = [
            {
                "patient": patient.pk,
                "name": patient.display_name,
                **selectors.screening_compliance_counts(
                    patient_id=patient.pk, cohort_id=cohort.pk, start=start, end=end
                ),
            }
            for patient in patients
        ]
        selectors.audit_page(
            user=_caller(request),
            object_type="screening_compliance",
            items=[(cohort.pk, patient.pk) for patient in patients],
        )
        return Response({"cohort": cohort.pk, "patients": rows})


class ConsentListCreateApi(_Base):
    @extend_schema(
        operation_id="screening_consents_list",
        parameters=[OpenApiParameter("patient", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        qs = selectors.consents_for_user(
            user=_caller(request), patient_id=_int_param(request, "patient")
        )

        def render(rows: list[Consent]) -> list[dict[str, Any]]:
            selectors.audit_page(
                user=_caller(request),
                object_type="consent",
                items=[(c.pk, c.patient_id) for c in rows],
            )
            return [consent_payload(c) for c in rows]

        return self.paged(request, qs, render)

    @extend_schema(request=ConsentInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = _valid(ConsentInput, request.data)
        consent = services.consent_create(
            actor=_caller(request),
            patient_id=data["patient"],
            information=data["information"],
            recipient=dict(data["recipient"]),
            purpose=data["purpose"],
            expires_on=data.get("expires_on"),
            expires_at_end_of_treatment=data["expires_at_end_of_treatment"],
            signed_at=data["signed_at"],
            signature_method=data["signature_method"],
        )
        return Response(_consent_read(request, consent.pk), status=status.HTTP_201_CREATED)


def _consent_read(request: Request, consent_id: int) -> dict[str, Any]:
    consent = selectors.consent_for_user(user=_caller(request), consent_id=consent_id)
    selectors.audit_read(
        user=_caller(request),
        object_type="consent",
        object_id=consent.pk,
        patient=consent.patient_id,
    )
    return consent_payload(consent)


class ConsentDetailApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, consent_id: int) -> Response:
        return Response(_consent_read(request, consent_id))


class ConsentFhirApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, consent_id: int) -> Response:
        consent = selectors.consent_for_user(
            user=_caller(request), consent_id=consent_id, attempted="export"
        )
        selectors.audit_read(
            user=_caller(request),
            action=Action.EXPORT,
            object_type="consent",
            object_id=consent.pk,
            patient=consent.patient_id,
            detail={"format": "fhir"},
        )
        return Response(fhir.consent_resource(consent, state=selectors.consent_state(consent)))


class ConsentRevokeApi(_Base):
    @extend_schema(request=RevokeInput, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, consent_id: int) -> Response:
        data = _valid(RevokeInput, request.data)
        services.consent_revoke(
            actor=_caller(request), consent_id=consent_id, revoked_at=data.get("revoked_at")
        )
        return Response(_consent_read(request, consent_id))


def _render_disclosures(request: Request, rows: list[Disclosure]) -> list[dict[str, Any]]:
    selectors.audit_page(
        user=_caller(request),
        object_type="disclosure",
        items=[(d.pk, d.patient_id) for d in rows],
    )
    return [disclosure_summary(d) for d in rows]


class DisclosureListCreateApi(_Base):
    @extend_schema(
        operation_id="screening_disclosures_list",
        parameters=[OpenApiParameter("patient", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        qs = selectors.disclosures_for_user(
            user=_caller(request), patient_id=_int_param(request, "patient")
        )
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))

    @extend_schema(request=DisclosureInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = _valid(DisclosureInput, request.data)
        disclosure = services.disclosure_create(
            actor=_caller(request),
            consent_id=data["consent"],
            period_from=data["from"],
            period_to=data["to"],
            information=data.get("information"),
        )
        return Response(services.disclosure_package(disclosure), status=status.HTTP_201_CREATED)


class DisclosureDetailApi(_Base):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, disclosure_id: int) -> Response:
        disclosure = selectors.disclosure_for_user(
            user=_caller(request), disclosure_id=disclosure_id
        )
        selectors.audit_read(
            user=_caller(request),
            object_type="disclosure",
            object_id=disclosure.pk,
            patient=disclosure.patient_id,
        )
        return Response(
            {**disclosure_summary(disclosure), "package": services.disclosure_package(disclosure)}
        )


class MyScreeningRecordsApi(_Base):
    """The patient's own tests and results (HIPAA right of access), no staff comments."""

    permission_classes = [IsPatient]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        qs = selectors.drug_tests_for_user(user=_caller(request))
        return self.paged(request, qs, lambda rows: _render_tests(request, rows, staff=False))


class MyDisclosuresApi(_Base):
    """Accounting of disclosures: every disclosure made about the caller."""

    permission_classes = [IsPatient]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        qs = selectors.disclosures_for_user(user=_caller(request))
        return self.paged(request, qs, lambda rows: _render_disclosures(request, rows))


class AnalyteTableApi(_Base):
    """The shipped analyte table and the current Part 2 notice. No patient data."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(
            {"analytes": [a.as_dict() for a in ANALYTES.values()], "notice": notice_block()}
        )
