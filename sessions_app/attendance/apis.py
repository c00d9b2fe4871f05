from __future__ import annotations

import datetime as dt
from typing import cast

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.models import Cohort, StaffRole
from groups.selectors import cohort_zone
from sessions_app.attendance import chart, selectors, services
from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.attendance.renderers import CSVRenderer
from sessions_app.selectors import current_role, session_for_user
from vioip.accounts.models import Role, User
from vioip.audit.models import Action
from vioip.core.errors import NotVisible, audit_not_visible
from vioip.core.permissions import IsPatient, IsProgramMember

MAX_RANGE_DAYS = 366

WEEK_PARAM = OpenApiParameter(
    "week", OpenApiTypes.STR, required=False, description="ISO week, e.g. 2026-W48 (default: now)"
)


def caller(request: Request) -> User:
    """The authenticated caller: the permission classes have refused anonymous requests."""
    return cast(User, request.user)


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
        user = caller(request)
        cohort = selectors.cohort_attendance_for_user(user=user, cohort_id=cohort_id)
        report = selectors.cohort_week_report(
            cohort=cohort,
            monday=_week(request, cohort),
            patient_ids=selectors.attendance_patient_ids(user=user),
        )
        as_csv = request.accepted_renderer.format == "csv"
        selectors.attendance_read_audit(
            user=user,
            # A file leaves the system: that is an export, not a read.
            action=Action.EXPORT if as_csv else Action.READ,
            object_type="attendance_report",
            object_id=cohort.pk,
            patient_ids=[p["patient"]["id"] for p in report["patients"]],
            detail={"format": request.accepted_renderer.format, "week": report["week"]},
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
        user = caller(request)
        cohort = selectors.cohort_attendance_for_user(
            user=user, cohort_id=cohort_id, object_type="attendance_chart"
        )
        report = selectors.cohort_week_report(
            cohort=cohort,
            monday=_week(request, cohort),
            patient_ids=selectors.attendance_patient_ids(user=user),
        )
        selectors.attendance_read_audit(
            user=user,
            object_type="attendance_chart",
            object_id=cohort.pk,
            patient_ids=[p["patient"]["id"] for p in report["patients"]],
            detail={"week": report["week"]},
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
        user = caller(request)
        cohort = selectors.cohort_billing_for_user(user=user, cohort_id=cohort_id)
        monday = selectors.parse_week(None, zone=cohort_zone(cohort))
        first = _date(request, "from", monday)
        last = _date(request, "to", monday + dt.timedelta(days=6))
        if last < first:
            raise ValidationError({"to": ["Must not be before 'from'."]})
        if (last - first).days >= MAX_RANGE_DAYS:
            raise ValidationError({"to": [f"At most {MAX_RANGE_DAYS} days at once."]})
        report = selectors.billing_days(
            cohort=cohort,
            first_day=first,
            last_day=last,
            patient_ids=selectors.attendance_patient_ids(user=user, roles=[StaffRole.CLINICIAN]),
        )
        fmt = request.accepted_renderer.format
        selectors.attendance_read_audit(
            user=user,
            action=Action.EXPORT,
            object_type="billing_days",
            object_id=cohort.pk,
            patient_ids=[r["patient_id"] for r in report["rows"]],
            detail={"from": first.isoformat(), "to": last.isoformat(), "format": fmt},
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
        user = caller(request)
        enrollment = selectors.enrollment_summary_for_user(
            user=user, cohort_id=cohort_id, enrollment_id=enrollment_id
        )
        summary = selectors.discharge_summary(
            enrollment=enrollment,
            include_aftercare_notes=selectors.aftercare_notes_visible(
                user=user, enrollment=enrollment
            ),
        )
        selectors.attendance_read_audit(
            user=user,
            object_type="discharge_summary",
            object_id=enrollment.pk,
            patient_ids=[enrollment.patient_id],
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
        user = caller(request)
        cohorts = selectors.my_week(user=user, monday=monday)
        # The patient's own attendance, audited against them like anyone else's read.
        selectors.attendance_read_audit(
            user=user,
            object_type="attendance",
            object_id=user.pk,
            patient_ids=[user.pk],
            detail={"weeks": sorted({c["week"] for c in cohorts})},
        )
        return Response({"cohorts": cohorts})


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
        user = caller(request)
        absences = list(selectors.absences_of(patient=user))
        selectors.attendance_read_audit(
            user=user, object_type="planned_absence", object_id="", patient_ids=[user.pk]
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
        user = caller(request)
        try:
            session = session_for_user(
                user=user, session_id=data.validated_data["session"], attempted="create"
            )
        except NotVisible as exc:
            # In a request body an unknown or foreign session is bad input, not a missing
            # page; the refused lookup is audited all the same.
            audit_not_visible(exc, actor=user)
            raise ValidationError({"session": ["No such session of yours."]}) from None
        absence = services.absence_create(
            patient=user, session=session, reason=data.validated_data["reason"]
        )
        return Response(AbsenceSerializer(absence).data, status=201)


class MyAbsenceDetailApi(APIView):
    permission_classes = [IsPatient]

    @extend_schema(responses={204: None}, summary="Withdraw a planned absence before the session.")
    def delete(self, request: Request, absence_id: int) -> Response:
        user = caller(request)
        absence = selectors.absence_for_user(user=user, absence_id=absence_id)
        services.absence_withdraw(patient=user, absence=absence)
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


class AdjustmentListApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        responses={200: AdjustmentSerializer(many=True)},
        summary="Attendance adjustments of a session (care team and admins).",
    )
    def get(self, request: Request, session_id: int) -> Response:
        user = caller(request)
        session = selectors.session_adjustments_for_user(user=user, session_id=session_id)
        adjustments = list(selectors.adjustments_visible_to(user=user, session=session))
        selectors.attendance_read_audit(
            user=user,
            object_type="attendance_adjustment",
            object_id=session.pk,
            patient_ids=[a.patient_id for a in adjustments],
        )
        return Response(AdjustmentSerializer(adjustments, many=True).data)

    @extend_schema(
        request=AdjustmentInputSerializer,
        responses={201: AdjustmentSerializer},
        summary="Add minutes the room did not measure (the cohort's clinicians). Audited.",
    )
    def post(self, request: Request, session_id: int) -> Response:
        user = caller(request)
        session = selectors.session_for_adjustment(user=user, session_id=session_id)
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        patient_id = data.validated_data["patient"]
        if not selectors.may_adjust_for(user=user, patient_id=patient_id):
            # The service's own answer for a patient not expected: nothing more revealed.
            raise ValidationError({"patient": ["Not a patient expected in this session."]})
        adjustment = services.adjustment_create(
            actor=user,
            session=session,
            patient_id=patient_id,
            minutes=data.validated_data["minutes"],
            reason=data.validated_data["reason"],
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
        user = caller(request)
        if current_role(user) == Role.ADMIN:
            # Admins schedule through the sessions API; a make-up is a care decision.
            raise PermissionDenied("Only the cohort's care team offers make-up sessions.")
        missed = selectors.session_for_makeup(user=user, session_id=session_id)
        data = MakeupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        session = services.makeup_offer(
            actor=user,
            missed=missed,
            patient_id=data.validated_data["patient"],
            starts_at=data.validated_data["starts_at"],
            ends_at=data.validated_data["ends_at"],
            title=data.validated_data["title"],
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
