"""Sessions over REST: lists, one-off sessions, changes, cancellation, generation of a
cohort's schedule, and the caller's own schedule.

404 (an audited denial, through the session's door) for a session or cohort the caller
may not see; 403 for a change their role on a visible one does not allow. Auditors are
refused by role. Reads that show an individual or family session are audited against
its patient.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups import permissions
from groups.selectors import cohort_get_for_user
from sessions_app import selectors, services
from sessions_app.filters import MySessionFilter, SessionFilter
from sessions_app.models import Session
from sessions_app.serializers import (
    GenerateResultSerializer,
    GenerateSerializer,
    SessionCancelSerializer,
    SessionCreateSerializer,
    SessionSerializer,
    SessionUpdateSerializer,
)
from vioip.accounts.models import Role, User
from vioip.core.permissions import IsProgramMember


def caller(request: Request) -> User:
    """The authenticated caller: IsProgramMember has refused anonymous requests already."""
    return cast(User, request.user)


RANGE_PARAMETERS = [
    OpenApiParameter(
        name, OpenApiTypes.STR, description="A date (whole UTC day) or an ISO 8601 date-time."
    )
    for name in ("from", "to")
]


class _AuditedSessionList(generics.ListAPIView):
    """A page of sessions; one read event per patient the page names."""

    permission_classes = [IsProgramMember]
    serializer_class = SessionSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        shown = list(page if page is not None else queryset)
        selectors.sessions_read_audit(user=caller(request), sessions=shown)
        data = self.get_serializer(shown, many=True).data
        if page is not None:
            return self.get_paginated_response(data)
        return Response(data)


class SessionListApi(_AuditedSessionList):
    filterset_class = SessionFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Session.objects.none()
        return selectors.sessions_visible_to(user=caller(self.request))

    @extend_schema(parameters=RANGE_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Sessions of the caller's cohorts; one read event per patient the page names."""
        return super().get(request, *args, **kwargs)

    @extend_schema(request=SessionCreateSerializer, responses={201: SessionSerializer})
    def post(self, request: Request) -> Response:
        """Schedule a one-off session (staff who schedule the cohort)."""
        permissions.require(caller(request).role != Role.PATIENT)
        data = SessionCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        cohort = values.pop("cohort")
        permissions.require(permissions.can_schedule(user=caller(request), cohort=cohort))
        session = services.session_create(
            actor=caller(request),
            cohort=cohort,
            patient_id=values.pop("patient"),
            **values,
        )
        return Response(SessionSerializer(session).data, status=status.HTTP_201_CREATED)


class _SessionView(APIView):
    permission_classes = [IsProgramMember]

    def session_for_change(self, session_id: int) -> Any:
        user = caller(self.request)
        session = selectors.session_for_user(user=user, session_id=session_id, attempted="update")
        permissions.require(permissions.can_schedule(user=user, cohort=session.cohort))
        return session


class SessionDetailApi(_SessionView):
    @extend_schema(responses=SessionSerializer)
    def get(self, request: Request, session_id: int) -> Response:
        """One session of the caller's cohorts."""
        session = selectors.session_for_user(user=caller(request), session_id=session_id)
        selectors.sessions_read_audit(user=caller(request), sessions=[session])
        return Response(SessionSerializer(session).data)

    @extend_schema(request=SessionUpdateSerializer, responses=SessionSerializer)
    def patch(self, request: Request, session_id: int) -> Response:
        """Change a session's title, times or waiting room (staff who schedule the cohort)."""
        session = self.session_for_change(session_id)
        data = SessionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_update(
            actor=caller(request), session=session, **data.validated_data
        )
        return Response(SessionSerializer(session).data)


class SessionCancelApi(_SessionView):
    @extend_schema(request=SessionCancelSerializer, responses=SessionSerializer)
    def post(self, request: Request, session_id: int) -> Response:
        """Cancel a session with a reason (staff who schedule the cohort)."""
        session = self.session_for_change(session_id)
        data = SessionCancelSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.session_cancel(
            actor=caller(request),
            session=session,
            reason=data.validated_data["reason"],
        )
        return Response(SessionSerializer(session).data)


class ScheduleGenerateApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        request=GenerateSerializer,
        responses={201: GenerateResultSerializer, 200: GenerateResultSerializer},
    )
    def post(self, request: Request, cohort_id: int) -> Response:
        """Generate the cohort's sessions for a date range from its meeting days."""
        cohort = cohort_get_for_user(user=caller(request), cohort_id=cohort_id)
        permissions.require(permissions.can_schedule(user=caller(request), cohort=cohort))
        data = GenerateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.schedule_generate(
            actor=caller(request),
            cohort=cohort,
            date_from=data.validated_data["from"],
            date_to=data.validated_data["to"],
        )
        body = {"created": len(created), "sessions": SessionSerializer(created, many=True).data}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class MySessionListApi(_AuditedSessionList):
    """The caller's own schedule."""

    filterset_class = MySessionFilter

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Session.objects.none()
        return selectors.my_sessions(user=caller(self.request))

    @extend_schema(parameters=RANGE_PARAMETERS)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
