"""Random draws, the draw schedule and compliance: thin views over ``screening.draws``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from screening import common
from screening.api_base import ScreeningApi, caller, filter_parameters, query_params, valid
from screening.draws import selectors, services
from screening.draws.filters import ComplianceFilter, DrawFilter, DrawScheduleFilter
from screening.draws.serializers import (
    ComplianceOutput,
    DrawInput,
    DrawNoticeOutput,
    DrawOutput,
    draw_payload,
)
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
    return [DrawOutput(draw_payload(d, selected[d.pk])).data for d in rows]


class DrawListCreateApi(ScreeningApi):
    permission_classes = [IsClinician]

    @extend_schema(
        operation_id="screening_draws_list",
        parameters=filter_parameters(DrawFilter),
        responses=DrawOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List the random draws of the caller's cohorts, with who was selected (clinicians)."""
        cohort_id = query_params(DrawFilter, request)["cohort"]
        qs = selectors.draws_for_user(user=caller(request), cohort_id=cohort_id)
        return self.paged(request, qs, lambda rows: _render_draws(request, rows))

    @extend_schema(request=DrawInput, responses={201: DrawOutput})
    def post(self, request: Request) -> Response:
        """Run a random draw: select a share of the cohort and order a test for each."""
        data = valid(DrawInput, request.data)
        draw = services.draw_create(
            actor=caller(request), cohort_id=data["cohort"], date=data["date"], rate=data["rate"]
        )
        payload = draw_payload(draw, draw.selected)
        return Response(DrawOutput(payload).data, status=status.HTTP_201_CREATED)


class DrawDetailApi(ScreeningApi):
    @extend_schema(responses=DrawOutput)
    def get(self, request: Request, draw_id: int) -> Response:
        """Read a random draw with who was selected (the cohort's clinicians)."""
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
        DrawNoticeOutput(
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
        ).data
        for n in rows
    ]


class DrawScheduleApi(ScreeningApi):
    """A cohort's random draws for its staff: day and number selected; from the day on,
    who is due. Who was selected stays with the clinicians (``/draws/``) until then."""

    permission_classes = [IsStaff]

    @extend_schema(
        operation_id="screening_draw_schedule",
        parameters=filter_parameters(DrawScheduleFilter),
        responses=DrawNoticeOutput(many=True),
    )
    def get(self, request: Request) -> Response:
        """List a cohort's random draws for its staff; who is due only from the draw's day."""
        cohort_id = query_params(DrawScheduleFilter, request)["cohort"]
        _, notices = selectors.draw_schedule_for_user(user=caller(request), cohort_id=cohort_id)
        return self.paged(request, notices, lambda rows: _render_draw_notices(request, rows))


class ComplianceApi(ScreeningApi):
    """Per patient of a cohort: tests due, taken, missed, last collection. No results."""

    permission_classes = [IsStaff]

    @extend_schema(
        parameters=filter_parameters(ComplianceFilter),
        responses=ComplianceOutput,
    )
    def get(self, request: Request) -> Response:
        """Report a cohort's screening compliance per patient: counts only (staff)."""
        params = query_params(ComplianceFilter, request)
        cohort_id, start, end = params["cohort"], params["from"], params["to"]
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
        return Response(ComplianceOutput({"cohort": cohort.pk, "patients": rows}).data)
