"""Random draws, the draw schedule and compliance: thin views over ``screening.draws``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common
from screening.api_base import ScreeningApi, caller, int_param, valid
from screening.draws import selectors, services
from screening.draws.serializers import DrawInput, draw_payload
from screening.models import Draw
from vioip.core.permissions import IsClinician, IsStaff


def _render_draws(request: Request, rows: list[Draw]) -> list[dict[str, Any]]:
    # Who was selected is about each selected patient: one event per patient shown.
    selected = selectors.selected_in_care(user=caller(request), draws=rows)
    common.audit_page(
        user=caller(request),
        object_type="screening_draw",
        items=[(d.pk, patient_id) for d in rows for patient_id in selected[d.pk]],
    )
    return [draw_payload(d, selected[d.pk]) for d in rows]


class DrawListCreateApi(ScreeningApi):
    permission_classes = [IsClinician]

    @extend_schema(
        operation_id="screening_draws_list",
        parameters=[OpenApiParameter("cohort", int, required=False)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        qs = selectors.draws_for_user(user=caller(request), cohort_id=int_param(request, "cohort"))
        return self.paged(request, qs, lambda rows: _render_draws(request, rows))

    @extend_schema(request=DrawInput, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = valid(DrawInput, request.data)
        draw = services.draw_create(
            actor=caller(request), cohort_id=data["cohort"], date=data["date"], rate=data["rate"]
        )
        return Response(draw_payload(draw, draw.selected), status=status.HTTP_201_CREATED)


class DrawDetailApi(ScreeningApi):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, draw_id: int) -> Response:
        draw = selectors.draw_for_user(user=caller(request), draw_id=draw_id)
        return Response(_render_draws(request, [draw])[0])


def _render_draw_notices(
    request: Request, rows: list[selectors.DrawNotice]
) -> list[dict[str, Any]]:
    # Who is due is about each patient named: one event per patient shown.
    common.audit_page(
        user=caller(request),
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


class DrawScheduleApi(ScreeningApi):
    """A cohort's random draws for its staff: day and number selected; from the day on,
    who is due. Who was selected stays with the clinicians (``/draws/``) until then."""

    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="screening_draw_schedule",
        parameters=[OpenApiParameter("cohort", int, required=True)],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        cohort_id = int_param(request, "cohort")
        if cohort_id is None:
            raise serializers.ValidationError({"cohort": ["This parameter is required."]})
        _, notices = selectors.draw_schedule_for_user(user=caller(request), cohort_id=cohort_id)
        return self.paged(request, notices, lambda rows: _render_draw_notices(request, rows))


class ComplianceApi(ScreeningApi):
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
        cohort_id = int_param(request, "cohort")
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
        cohort = selectors.compliance_cohort_for_user(user=caller(request), cohort_id=cohort_id)
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
        common.audit_page(
            user=caller(request),
            object_type="screening_compliance",
            items=[(cohort.pk, patient.pk) for patient in patients],
        )
        return Response({"cohort": cohort.pk, "patients": rows})
