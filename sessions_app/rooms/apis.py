from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.exceptions import NotAuthenticated, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sessions_app.models import PATIENT_KINDS, Session
from sessions_app.rooms import entry, selectors, tickets
from sessions_app.rooms.models import ChatMessage
from sessions_app.selectors import session_for_user
from vioip.accounts.models import AuthToken, Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.permissions import IsProgramMember

TicketOutput = inline_serializer(
    "RoomTicket", {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()}
)


class TicketApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        request=None,
        responses={201: TicketOutput},
        summary="A one-time ticket to open the session's room WebSocket (valid 30 s).",
    )
    def post(self, request: Request, session_id: int) -> Response:
        session = session_for_user(user=request.user, session_id=session_id)  # type: ignore[arg-type]
        token = request.auth
        if not isinstance(token, AuthToken):
            # A ticket is bound to the bearer token that asks for it; nothing else has one.
            raise NotAuthenticated
        issued = tickets.ticket_issue(
            user=request.user,  # type: ignore[arg-type]
            session=session,
            token=token,
        )
        return Response({"ticket": issued.raw, "expires_in": issued.expires_in}, status=201)


class MessageSerializer(serializers.ModelSerializer):
    sender = serializers.SerializerMethodField()
    text = serializers.SerializerMethodField()

    class Meta:
        model = ChatMessage
        fields = ["seq", "id", "client_id", "sender", "text", "sent_at", "deleted", "deleted_by"]

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_sender(self, message: ChatMessage) -> dict[str, Any]:
        return {"user_id": message.sender_id, "display_name": message.sender.display_name}

    def get_text(self, message: ChatMessage) -> str:
        # Staff see what was said even if it was hidden from the room.
        return message.text


def _read_per_patient(
    *,
    actor: User,
    session: Session,
    object_type: str,
    patient_ids: set[int],
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit event per patient the read showed (and the session's own patient, for
    individual and family sessions), so the patient's audit lists it; one event without a
    patient when it showed none."""
    if session.kind in PATIENT_KINDS and session.patient_id:
        patient_ids = patient_ids | {session.patient_id}
    audit.record_many(
        {
            "action": Action.READ,
            "actor": actor,
            "object_type": object_type,
            "object_id": session.pk,
            "patient": patient,
            "detail": detail or {},
        }
        for patient in (list[int | None](sorted(patient_ids)) or [None])
    )


class MessageListApi(generics.ListAPIView):
    serializer_class = MessageSerializer
    permission_classes = [IsProgramMember]

    @extend_schema(
        parameters=[OpenApiParameter("after_seq", OpenApiTypes.INT, required=False)],
        summary="The session's chat transcript, for the session's care team.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    session: Session | None = None
    after_seq = 0

    def get_queryset(self) -> QuerySet[ChatMessage]:
        if getattr(self, "swagger_fake_view", False):
            return ChatMessage.objects.none()
        self.session = selectors.staff_session_for_user(
            user=self.request.user,  # type: ignore[arg-type]
            session_id=self.kwargs["session_id"],
            object_type="chat_transcript",
        )
        after = self.request.query_params.get("after_seq", "0")
        if not after.isdigit():
            raise ValidationError({"after_seq": ["A whole number ≥ 0."]})
        self.after_seq = int(after)
        return selectors.transcript_of(session=self.session).filter(seq__gt=self.after_seq)

    def paginate_queryset(self, queryset: Any) -> list[Any] | None:
        page = super().paginate_queryset(queryset)
        if self.session is not None:
            # One event per patient whose messages are on this page.
            shown = page if page is not None else list(queryset)
            _read_per_patient(
                actor=self.request.user,  # type: ignore[arg-type]
                session=self.session,
                object_type="chat_transcript",
                patient_ids={m.sender_id for m in shown if m.sender.role == Role.PATIENT},
                detail={"after_seq": self.after_seq},
            )
        return page


class AttendanceRowSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    display_name = serializers.CharField()
    minutes_attended = serializers.IntegerField()
    first_join = serializers.DateTimeField(allow_null=True)
    last_leave = serializers.DateTimeField(allow_null=True)
    in_room = serializers.BooleanField()
    late = serializers.BooleanField()
    left_early = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["present", "late", "left_early", "absent"])


class AttendanceApi(APIView):
    permission_classes = [IsProgramMember]

    @extend_schema(
        responses={200: AttendanceRowSerializer(many=True)},
        summary="Attendance per expected patient, for the session's care team.",
    )
    def get(self, request: Request, session_id: int) -> Response:
        session = selectors.staff_session_for_user(
            user=request.user,  # type: ignore[arg-type]
            session_id=session_id,
            object_type="attendance",
        )
        # Whoever's presence has run out leaves before the report is read.
        entry.room_sweep(session_id=session.pk)
        rows = selectors.attendance_for_session(session=session)
        _read_per_patient(
            actor=request.user,  # type: ignore[arg-type]
            session=session,
            object_type="attendance",
            patient_ids={row.user_id for row in rows},
        )
        return Response(AttendanceRowSerializer(rows, many=True).data)
