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
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.selectors import is_cohort_staff
from sessions_app.models import Session
from sessions_app.rooms import selectors, services
from sessions_app.rooms.models import ChatMessage
from sessions_app.selectors import session_get_for_user
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
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
        session = session_get_for_user(user=request.user, session_id=session_id)
        issued = services.ticket_issue(user=request.user, session=session)  # type: ignore[arg-type]
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


def _session_for_staff(request: Request, session_id: int, object_type: str) -> Session:
    """The session if the caller is on its care team: 404 if they cannot see it at all,
    403 (audited) if they can see it but not this record."""
    session = session_get_for_user(user=request.user, session_id=session_id)
    if not is_cohort_staff(user=request.user, cohort_id=session.cohort_id):
        audit.record(
            action=Action.READ,
            actor=request.user,
            outcome=Outcome.DENIED,
            object_type=object_type,
            object_id=session.pk,
            request=request._request,
        )
        raise PermissionDenied("Only the session's care team can read this.")
    return session


class MessageListApi(generics.ListAPIView):
    serializer_class = MessageSerializer
    permission_classes = [IsProgramMember]

    @extend_schema(
        parameters=[OpenApiParameter("after_seq", OpenApiTypes.INT, required=False)],
        summary="The session's chat transcript, for the session's care team.",
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ChatMessage]:
        if getattr(self, "swagger_fake_view", False):
            return ChatMessage.objects.none()
        user = self.request.user
        session = _session_for_staff(self.request, self.kwargs["session_id"], "chat_transcript")
        messages = selectors.transcript_for_staff(session=session, user=user)
        if messages is None:
            raise PermissionDenied("Only the session's care team can read this.")
        after = self.request.query_params.get("after_seq", "0")
        if not after.isdigit():
            raise ValidationError({"after_seq": ["A whole number ≥ 0."]})
        audit.record(
            action=Action.READ,
            actor=user,
            object_type="chat_transcript",
            object_id=session.pk,
            request=self.request._request,
            detail={"after_seq": int(after)},
        )
        return messages.filter(seq__gt=int(after))


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
        session = _session_for_staff(request, session_id, "attendance")
        # Whoever's presence has run out leaves before the report is read.
        services.room_sweep(session_id=session.pk)
        rows = selectors.attendance_for_session(session=session)
        audit.record(
            action=Action.READ,
            actor=request.user,
            object_type="attendance",
            object_id=session.pk,
            request=request._request,
        )
        return Response(AttendanceRowSerializer(rows, many=True).data)
