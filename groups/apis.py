"""Cohorts, care teams and enrollment over REST.

Every view answers 404 for a cohort the caller may not see (missing and forbidden look
the same) and 403 for a change the caller's role on a visible cohort does not allow.
Auditors are refused by role: none of this is theirs to read.
"""

from __future__ import annotations

from typing import Any, cast

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups import permissions, selectors, services
from groups.serializers import (
    CareTeamAssignSerializer,
    CareTeamMemberSerializer,
    CohortInputSerializer,
    CohortSerializer,
    DischargeSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
    RosterMemberSerializer,
)
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.pagination import PageNumberPagination
from vioip.core.permissions import IsProgramMember


def caller(request: Request) -> User:
    """The authenticated caller: IsProgramMember has refused anonymous requests already."""
    return cast(User, request.user)


PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="At most 500."),
]


class _CohortView(APIView):
    permission_classes = [IsProgramMember]
    # Read by paginate() and by drf-spectacular, which then documents the page envelope.
    pagination_class = PageNumberPagination

    def cohort(self, cohort_id: int) -> Any:
        return selectors.cohort_get_for_user(user=caller(self.request), cohort_id=cohort_id)

    def paginate(self, queryset: Any, serializer: Any) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer(page).data)


def _require_enrollment_write(request: Request, cohort: Any, object_id: Any = "") -> None:
    """Admissions and discharges are Part 2 records: a refused attempt is audited."""
    if permissions.can_enroll(user=caller(request), cohort=cohort):
        return
    audit.record(
        action=Action.DENIED,
        outcome=Outcome.DENIED,
        actor=caller(request),
        object_type="enrollment",
        object_id=object_id,
        detail={"cohort": cohort.pk},
    )
    permissions.require(False)


class CohortListApi(_CohortView):
    @extend_schema(responses=CohortSerializer(many=True), parameters=PAGE_PARAMETERS)
    def get(self, request: Request) -> Response:
        """The cohorts the caller belongs to (admins: all), with their counts."""
        cohorts = selectors.cohorts_with_counts_visible_to(user=caller(request))
        return self.paginate(cohorts, lambda page: CohortSerializer(page, many=True))

    @extend_schema(request=CohortInputSerializer, responses={201: CohortSerializer})
    def post(self, request: Request) -> Response:
        """Create a cohort (admins)."""
        permissions.require(caller(request).role == Role.ADMIN)
        data = CohortInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cohort = services.cohort_create(actor=caller(request), **data.validated_data)
        return Response(CohortSerializer(cohort).data, status=status.HTTP_201_CREATED)


class CohortDetailApi(_CohortView):
    @extend_schema(responses=CohortSerializer)
    def get(self, request: Request, cohort_id: int) -> Response:
        """One cohort the caller belongs to, with its counts."""
        cohort = (
            selectors.cohorts_with_counts_visible_to(user=caller(request))
            .filter(pk=cohort_id)
            .first()
        )
        if cohort is None:
            raise Http404
        return Response(CohortSerializer(cohort).data)

    @extend_schema(request=CohortInputSerializer, responses=CohortSerializer)
    def patch(self, request: Request, cohort_id: int) -> Response:
        """Change a cohort's settings (admins)."""
        cohort = self.cohort(cohort_id)
        permissions.require(permissions.can_manage_cohort(user=caller(request), cohort=cohort))
        data = CohortInputSerializer(cohort, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        cohort = services.cohort_update(actor=caller(request), cohort=cohort, **data.validated_data)
        return Response(CohortSerializer(cohort).data)


class CareTeamListApi(_CohortView):
    @extend_schema(responses=CareTeamMemberSerializer(many=True), parameters=PAGE_PARAMETERS)
    def get(self, request: Request, cohort_id: int) -> Response:
        """The cohort's care team."""
        cohort = self.cohort(cohort_id)
        members = selectors.care_team_of(cohort=cohort)
        return self.paginate(members, lambda page: CareTeamMemberSerializer(page, many=True))

    @extend_schema(request=CareTeamAssignSerializer, responses={201: CareTeamMemberSerializer})
    def post(self, request: Request, cohort_id: int) -> Response:
        """Assign a staff member to the cohort's care team (admins)."""
        cohort = self.cohort(cohort_id)
        permissions.require(permissions.can_manage_cohort(user=caller(request), cohort=cohort))
        data = CareTeamAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = services.care_team_assign(
            actor=caller(request), cohort=cohort, **data.validated_data
        )
        return Response(CareTeamMemberSerializer(member).data, status=status.HTTP_201_CREATED)


class CareTeamMemberApi(_CohortView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, cohort_id: int, user_id: int) -> Response:
        """Take a staff member off the cohort's care team (admins)."""
        cohort = self.cohort(cohort_id)
        permissions.require(permissions.can_manage_cohort(user=caller(request), cohort=cohort))
        services.care_team_unassign(actor=caller(request), cohort=cohort, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EnrollmentListApi(_CohortView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses=OpenApiResponse(
            PolymorphicProxySerializer(
                component_name="RosterEntry",
                serializers=[EnrollmentSerializer, RosterMemberSerializer],
                resource_type_field_name=None,
                many=True,
            ),
            description="Staff and admins: enrollments. Patients: the active members, "
            "each as {display_name, is_self} (RosterMember) only.",
        ),
    )
    def get(self, request: Request, cohort_id: int) -> Response:
        """The cohort's roster: enrollments (staff, admins) or members' names (patients)."""
        user = caller(request)
        cohort = self.cohort(cohort_id)
        roster = selectors.roster_of(user=user, cohort=cohort)
        shown: list[Any] = []

        def serialize(page: list[Any]) -> Any:
            shown.extend(page)
            if user.role == Role.PATIENT:
                return RosterMemberSerializer(page, many=True, context={"user_id": user.pk})
            context = {"show_aftercare_notes": user.role in (Role.FACILITATOR, Role.CLINICIAN)}
            return EnrollmentSerializer(page, many=True, context=context)

        response = self.paginate(roster, serialize)
        selectors.roster_audit(user=user, cohort=cohort, enrollments=shown)
        return response

    @extend_schema(request=EnrollmentCreateSerializer, responses={201: EnrollmentSerializer})
    def post(self, request: Request, cohort_id: int) -> Response:
        """Enroll a patient in the cohort (admins). Audited."""
        cohort = self.cohort(cohort_id)
        _require_enrollment_write(request, cohort)
        data = EnrollmentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment = services.enrollment_create(
            actor=caller(request), cohort=cohort, **data.validated_data
        )
        context = {"show_aftercare_notes": caller(request).role != Role.ADMIN}
        return Response(
            EnrollmentSerializer(enrollment, context=context).data, status=status.HTTP_201_CREATED
        )


class EnrollmentDischargeApi(_CohortView):
    @extend_schema(request=DischargeSerializer, responses=EnrollmentSerializer)
    def post(self, request: Request, cohort_id: int, enrollment_id: int) -> Response:
        """Discharge an enrollment with a reason and an aftercare plan (admins). Audited."""
        cohort = self.cohort(cohort_id)
        _require_enrollment_write(request, cohort, enrollment_id)
        enrollment = selectors.enrollment_get(cohort=cohort, enrollment_id=enrollment_id)
        data = DischargeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        enrollment = services.enrollment_discharge(
            actor=caller(request),
            enrollment=enrollment,
            reason=data.validated_data["reason"],
            discharged_on=data.validated_data["discharged_on"],
            aftercare_level=data.validated_data["aftercare"]["level"],
            aftercare_notes=data.validated_data["aftercare"]["notes"],
        )
        context = {"show_aftercare_notes": caller(request).role != Role.ADMIN}
        return Response(EnrollmentSerializer(enrollment, context=context).data)
