from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.models import Cohort
from groups.selectors import cohort_zone, enrollment_get, is_cohort_clinician, is_cohort_staff
from sessions_app.attendance import chart, selectors, services
from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.attendance.renderers import CSVRenderer
from sessions_app.models import Session
from sessions_app.selectors import session_get_for_user
from vioip.accounts.models import Role
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.permissions import IsPatient, IsProgramMember

MAX_RANGE_DAYS = 366

WEEK_PARAM = OpenApiParameter(
    "week", OpenApiTypes.STR, required=False, description="ISO week, e.g. 2026-W48 (default: now)"
)


def _guarded(
    request: Request, object_type: str, action: str, get: Callable[[], Any], object_id: Any
) -> Any:
    """Run an access check; a 403 is audited (a 404 reveals nothing and is not)."""
    try:
        return get()
    except PermissionDenied:
        audit.record(
            action=action,
            actor=request.user,
            outcome=Outcome.DENIED,
            object_type=object_type,
            object_id=object_id,
            request=request._request,
        )
        raise


def _week(request: Request, cohort: Cohort) -> dt.date:
    try:
        return selectors.parse_week(request.query_params.get("week"), zone=cohort_zone(cohort))
    except ValueError:
        raise ValidationError({"week": ["An ISO week like 2026-W48."]}) from None


FIRST_DAY = dt.date.min + dt.timedelta(days=1)
LAST_DAY = dt.date.max - dt.timedelta(days=1)


def _date(request: Request, name: str, default: dt.date) -> dt.date:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: ["A date like 2026-11-23."]}) from None
    # A day off the calendar's ends: its neighbour or its local midnight in UTC may not exist.
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError({name: [f"A date from {FIRST_DAY} to {LAST_DAY}."]})
    return day


# --- Cohort reports ------------------------------------------------------------------------


class CohortAttendanceApi(APIView):
    permission_classes = [IsProgramMember]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            WEEK_PARAM,
            OpenApiParameter("format", OpenApiTypes.STR, required=False, enum=["json", "csv"]),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        summary="A cohort's week: per patient and day, sessions, minutes and flags.",
        description=selectors.DAY_RULE,
    )
    def get(self, request: Request, cohort_id: int) -> Response:
        cohort = _guarded(
            request,
            "attendance_report",
            Action.READ,
            lambda: selectors.cohort_for_attendance(user=request.user, cohort_id=cohort_id),
            cohort_id,
        )
        report = selectors.cohort_week_report(cohort=cohort, monday=_week(request, cohort))
        as_csv = request.accepted_renderer.format == "csv"
        audit.record(
            # A file leaves the system: that is an export, not a read.
            action=Action.EXPORT if as_csv else Action.READ,
            actor=request.user,
            object_type="attendance_report",
            object_id=cohort.pk,
            request=request._request,
            detail={
                "format": request.accepted_renderer.format,
                "week": report["week"],
                "patients": [p["patient"]["id"] for p in report["patients"]],
            },
        )
        if as_csv:
            name = f"attendance-cohort{cohort.pk}-{report['week']}.csv"
            return Response(
                selectors.week_report_rows(report),
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return Response(report)


class CohortAttendanceChartApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        parameters=[WEEK_PARAM],
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY)},
        summary="A PNG of each patient's hours this week against the weekly minimum.",
    )
    def get(self, request: Request, cohort_id: int) -> HttpResponse:
        cohort = _guarded(
            request,
            "attendance_chart",
            Action.READ,
            lambda: selectors.cohort_for_attendance(user=request.user, cohort_id=cohort_id),
            cohort_id,
        )
        report = selectors.cohort_week_report(cohort=cohort, monday=_week(request, cohort))
        audit.record(
            action=Action.READ,
            actor=request.user,
            object_type="attendance_chart",
            object_id=cohort.pk,
            request=request._request,
            detail={
                "week": report["week"],
                "patients": [p["patient"]["id"] for p in report["patients"]],
            },
        )
        response = HttpResponse(chart.weekly_hours_png(report), content_type="image/png")
        response["Cache-Control"] = "no-store"
        return response


class BillingDaysApi(APIView):
    permission_classes = [IsProgramMember]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATE, required=False),
            OpenApiParameter("to", OpenApiTypes.DATE, required=False),
            OpenApiParameter("format", OpenApiTypes.STR, required=False, enum=["json", "csv"]),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
        },
        summary="Billing days: one row per patient per day attended (JSON or CSV). Audited.",
        description=selectors.DAY_RULE,
    )
    def get(self, request: Request, cohort_id: int) -> Response:
        cohort = _guarded(
            request,
            "billing_days",
            Action.EXPORT,
            lambda: selectors.cohort_for_billing(user=request.user, cohort_id=cohort_id),
            cohort_id,
        )
        monday = selectors.parse_week(None, zone=cohort_zone(cohort))
        first = _date(request, "from", monday)
        last = _date(request, "to", monday + dt.timedelta(days=6))
        if last < first:
            raise ValidationError({"to": ["Must not be before 'from'."]})
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationError({"to": [f"At most {MAX_RANGE_DAYS} days at once."]})
        report = selectors.billing_days(cohort=cohort, first_day=first, last_day=last)
        fmt = request.accepted_renderer.format
        audit.record(
            action=Action.EXPORT,
            actor=request.user,
            object_type="billing_days",
            object_id=cohort.pk,
            request=request._request,
            detail={
                "from": first.isoformat(),
                "to": last.isoformat(),
                "format": fmt,
                "rows": len(report["rows"]),
                "patients": sorted({r["patient_id"] for r in report["rows"]}),
            },
        )
        headers = {"Cache-Control": "no-store"}
        if fmt == "csv":
            name = f"billing-days-cohort{cohort.pk}-{first.isoformat()}-{last.isoformat()}.csv"
            headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(report, headers=headers)


class DischargeSummaryApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        summary="Discharge summary: dates, attendance, hours, screening compliance counts "
        "(no results), discharge reason and aftercare plan.",
    )
    def get(self, request: Request, cohort_id: int, enrollment_id: int) -> Response:
        cohort = _guarded(
            request,
            "discharge_summary",
            Action.READ,
            lambda: selectors.cohort_for_billing(user=request.user, cohort_id=cohort_id),
            enrollment_id,
        )
        enrollment = enrollment_get(cohort=cohort, enrollment_id=enrollment_id)
        # Aftercare notes are clinical text: the care team's clinicians read them, admins
        # see the plan's level only.
        clinician = is_cohort_clinician(user=request.user, cohort_id=cohort.pk)
        summary = selectors.discharge_summary(
            enrollment=enrollment, include_aftercare_notes=clinician
        )
        audit.record(
            action=Action.READ,
            actor=request.user,
            object_type="discharge_summary",
            object_id=enrollment.pk,
            patient=enrollment.patient_id,
            request=request._request,
        )
        return Response(summary)


# --- The patient's own view ----------------------------------------------------------------


class MyAttendanceApi(APIView):
    permission_classes = [IsPatient]

    @extend_schema(
        parameters=[WEEK_PARAM],
        responses={200: OpenApiTypes.OBJECT},
        summary="My hours this week against the minimum, per cohort, and sessions left.",
    )
    def get(self, request: Request) -> Response:
        raw = request.query_params.get("week")
        monday = None
        if raw:
            try:
                monday = selectors.parse_week(raw, zone=dt.UTC)
            except ValueError:
                raise ValidationError({"week": ["An ISO week like 2026-W48."]}) from None
        return Response({"cohorts": selectors.my_week(user=request.user, monday=monday)})


class AbsenceSerializer(serializers.ModelSerializer):
    class Meta:
        model = PlannedAbsence
        fields = ["id", "session", "reason", "created_at"]


class AbsenceInputSerializer(serializers.Serializer):
    session = serializers.IntegerField()
    reason = serializers.CharField(max_length=services.MAX_REASON)


class MyAbsenceListApi(APIView):
    permission_classes = [IsPatient]

    @extend_schema(
        responses={200: AbsenceSerializer(many=True)},
        summary="My planned absences for sessions not yet begun and past.",
    )
    def get(self, request: Request) -> Response:
        absences = PlannedAbsence.objects.filter(patient_id=request.user.pk).order_by(
            "-session__starts_at"
        )
        return Response(AbsenceSerializer(absences, many=True).data)

    @extend_schema(
        request=AbsenceInputSerializer,
        responses={201: AbsenceSerializer},
        summary="Tell the program ahead that I will miss a session.",
    )
    def post(self, request: Request) -> Response:
        data = AbsenceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            session = session_get_for_user(
                user=request.user, session_id=data.validated_data["session"]
            )
        except Http404:
            raise ValidationError({"session": ["No such session of yours."]}) from None
        absence = services.absence_create(
            patient=request.user,  # type: ignore[arg-type]
            session=session,
            reason=data.validated_data["reason"],
            request=request._request,
        )
        return Response(AbsenceSerializer(absence).data, status=201)


class MyAbsenceDetailApi(APIView):
    permission_classes = [IsPatient]

    @extend_schema(responses={204: None}, summary="Withdraw a planned absence before the session.")
    def delete(self, request: Request, absence_id: int) -> Response:
        absence = (
            PlannedAbsence.objects.select_related("session")
            .filter(pk=absence_id, patient_id=request.user.pk)
            .first()
        )
        if absence is None:
            raise NotFound()
        services.absence_withdraw(
            patient=request.user,  # type: ignore[arg-type]
            absence=absence,
            request=request._request,
        )
        return Response(status=204)


# --- Staff: adjustments and make-ups --------------------------------------------------------


class AdjustmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = AttendanceAdjustment
        fields = ["id", "session", "patient", "minutes", "reason", "created_by", "created_at"]


class AdjustmentInputSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    minutes = serializers.IntegerField()
    reason = serializers.CharField(max_length=services.MAX_REASON)


def _session_for(request: Request, session_id: int, *, clinicians_only: bool, what: str) -> Session:
    """The session if the caller may act on its attendance: 404 if they cannot see it, 403
    (audited) if they see it but may not do this."""
    session = session_get_for_user(user=request.user, session_id=session_id)
    user: Any = request.user
    if clinicians_only:
        allowed = is_cohort_clinician(user=user, cohort_id=session.cohort_id)
    else:
        allowed = user.role == Role.ADMIN or is_cohort_staff(user=user, cohort_id=session.cohort_id)
    if not allowed:
        audit.record(
            action=Action.DENIED,
            actor=user,
            outcome=Outcome.DENIED,
            object_type=what,
            object_id=session.pk,
            request=request._request,
        )
        raise PermissionDenied("Your role on this cohort does not allow this.")
    return session


class AdjustmentListApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        responses={200: AdjustmentSerializer(many=True)},
        summary="Attendance adjustments of a session (care team and admins).",
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = _session_for(
            request, session_id, clinicians_only=False, what="attendance_adjustment"
        )
        adjustments = AttendanceAdjustment.objects.filter(session=session).order_by("id")
        audit.record(
            action=Action.READ,
            actor=request.user,
            object_type="attendance_adjustment",
            object_id=session.pk,
            request=request._request,
        )
        return Response(AdjustmentSerializer(adjustments, many=True).data)

    @extend_schema(
        request=AdjustmentInputSerializer,
        responses={201: AdjustmentSerializer},
        summary="Add minutes the room did not measure (the cohort's clinicians). Audited.",
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = _session_for(
            request, session_id, clinicians_only=True, what="attendance_adjustment"
        )
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        adjustment = services.adjustment_create(
            actor=request.user,  # type: ignore[arg-type]
            session=session,
            patient_id=data.validated_data["patient"],
            minutes=data.validated_data["minutes"],
            reason=data.validated_data["reason"],
            request=request._request,
        )
        return Response(AdjustmentSerializer(adjustment).data, status=201)


class MakeupInputSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class MakeupApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        request=MakeupInputSerializer,
        responses={201: OpenApiTypes.OBJECT},
        summary="Offer a patient an individual make-up session for a session (care team). "
        "It counts toward the week it is held in.",
    )
    def post(self, request: Request, session_id: int) -> Response:
        missed = _session_for(request, session_id, clinicians_only=False, what="makeup")
        if getattr(request.user, "role", None) == Role.ADMIN:
            # Admins schedule through the sessions API; a make-up is a care decision.
            raise PermissionDenied("Only the cohort's care team offers make-up sessions.")
        data = MakeupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.makeup_offer(
            actor=request.user,  # type: ignore[arg-type]
            missed=missed,
            patient_id=data.validated_data["patient"],
            starts_at=data.validated_data["starts_at"],
            ends_at=data.validated_data["ends_at"],
            title=data.validated_data["title"],
            request=request._request,
        )
        return Response(
            {
                "id": session.pk,
                "cohort": session.cohort_id,
                "kind": session.kind,
                "title": session.title,
                "patient": session.patient_id,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "makeup_for": session.makeup_for_id,
            },
            status=201,
        )
