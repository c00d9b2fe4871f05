from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vioip.audit import services
from vioip.audit.models import Action, AuditEvent
from vioip.audit.selectors import AuditEventFilter, audit_events
from vioip.core.permissions import IsAuditor


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "seq",
            "occurred_at",
            "actor",
            "actor_username",
            "actor_role",
            "action",
            "object_type",
            "object_id",
            "patient",
            "outcome",
            "request_id",
            "client_address",
            "detail",
            "prev_hash",
            "hash",
        ]


class AuditEventListApi(generics.ListAPIView):
    """The audit trail, newest first. Auditors only."""

    permission_classes = [IsAuditor]
    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return audit_events()

    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        response = super().list(request, *args, **kwargs)
        services.record(
            action=Action.READ,
            actor=request.user,
            object_type="audit_trail",
            detail={"filters": {k: v[:64] for k, v in request.query_params.items()}},
        )
        return response


class AuditVerifyApi(APIView):
    permission_classes = [IsAuditor]

    @extend_schema(
        responses=inline_serializer(
            "AuditVerify",
            {
                "intact": serializers.BooleanField(),
                "count": serializers.IntegerField(),
                "first_broken_seq": serializers.IntegerField(allow_null=True),
                "problem": serializers.CharField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        """Check the audit trail's chain and signed head (auditors)."""
        report = services.chain_verify()
        return Response(
            {
                "intact": report.intact,
                "count": report.count,
                "first_broken_seq": report.first_broken_seq,
                "problem": report.problem,
            }
        )
