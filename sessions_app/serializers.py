from __future__ import annotations

import copy
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from groups.selectors import cohorts_visible_to
from sessions_app.models import Session, SessionKind
from vioip.core.dates import CalendarDateField

SESSION_FIELDS = [
    "id",
    "cohort",
    "kind",
    "title",
    "starts_at",
    "ends_at",
    "status",
    "patient",
    "waiting_room",
    "generated",
    "cancel_reason",
]


class SessionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Session
        fields = SESSION_FIELDS
        read_only_fields = SESSION_FIELDS

    _built_fields: ClassVar[dict[str, serializers.Field] | None] = None

    def get_fields(self) -> dict[str, serializers.Field]:
        # Read-only fields made from the model and nothing else, so the same on every use:
        # built once, then copied for each use as DRF copies declared fields. Building them
        # from the model was a tenth of the CPU of a polled schedule.
        cls = type(self)
        built = cls.__dict__.get("_built_fields")
        if built is None:
            built = super().get_fields()
            cls._built_fields = built
        return copy.deepcopy(built)


@extend_schema_field(OpenApiTypes.INT)
class VisibleCohortField(serializers.PrimaryKeyRelatedField):
    """A cohort the caller may see; any other id is "does not exist", as for a missing one."""

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return cohorts_visible_to(user=self.context["request"].user)


class SessionCreateSerializer(serializers.Serializer):
    cohort = VisibleCohortField()
    kind = serializers.ChoiceField(choices=SessionKind.choices)
    # Left out: the kind's usual title (services.DEFAULT_TITLES). No default of "" here: the
    # schema would then offer a default that the field itself refuses as blank.
    title = serializers.CharField(
        max_length=200, required=False, help_text="Left out: the usual title of the kind."
    )
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    # An id only: whether it names a patient of the cohort is the service's question, so
    # the answer reveals nothing about users outside the cohort.
    patient = serializers.IntegerField(required=False, allow_null=True, default=None)
    waiting_room = serializers.BooleanField(required=False, allow_null=True, default=None)


class SessionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    waiting_room = serializers.BooleanField(required=False)

    FIXED = ("cohort", "kind", "patient", "status")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Silently ignoring these would look like success; a session for another cohort,
        # kind or patient is a new session, and cancelling has its own endpoint.
        fixed = [name for name in self.FIXED if name in self.initial_data]
        if fixed:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed."] for name in fixed}
            )
        return attrs


class SessionCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class GenerateSerializer(serializers.Serializer):
    # ``from`` is the API's word; declared through the fields dict below.
    to = CalendarDateField()

    def get_fields(self):  # type: ignore[no-untyped-def]
        fields = super().get_fields()
        fields["from"] = CalendarDateField()
        return fields


class GenerateResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    sessions = SessionSerializer(many=True)
