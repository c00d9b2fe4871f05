from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from groups.models import (
    AftercareLevel,
    CareTeamMember,
    Cohort,
    DischargeReason,
    Enrollment,
    StaffRole,
)
from groups.services import COHORT_FIELDS
from vioip.accounts.models import User

COHORT_API_FIELDS = list(COHORT_FIELDS)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
        "example": "18:00:00",
    }
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time in the cohort's own time zone. OpenAPI's ``time`` format is RFC
    3339's full-time, which carries a UTC offset; this never does."""


class _CohortFieldsMixin:
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.TimeField: LocalTimeField,
    }


class CohortInputSerializer(_CohortFieldsMixin, serializers.ModelSerializer):
    # Shape only (a list of integers); the range and uniqueness rules live in the service.
    meeting_days = serializers.ListField(child=serializers.IntegerField(), allow_empty=True)
    timezone = serializers.CharField(max_length=64)

    class Meta:
        model = Cohort
        fields = COHORT_API_FIELDS
        extra_kwargs = {
            # The service checks the ranges with the program's wording.
            "duration_minutes": {"min_value": None, "max_value": None},
        }


class CohortSerializer(_CohortFieldsMixin, serializers.ModelSerializer):
    active_enrollments = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Cohort
        fields = ["id", *COHORT_API_FIELDS, "active_enrollments", "created_at", "updated_at"]
        read_only_fields = fields


class CareTeamMemberSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="user.display_name", read_only=True)

    class Meta:
        model = CareTeamMember
        fields = ["user", "role", "display_name"]
        read_only_fields = fields


class CareTeamAssignSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    role = serializers.ChoiceField(choices=StaffRole.choices)


class AftercareSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=AftercareLevel.choices)
    notes = serializers.CharField(allow_blank=True, required=False, default="", max_length=10000)


class EnrollmentSerializer(serializers.ModelSerializer):
    """The staff view of an enrollment. Aftercare notes only when the context allows."""

    display_name = serializers.CharField(source="patient.display_name", read_only=True)
    aftercare = serializers.SerializerMethodField()

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "cohort",
            "patient",
            "display_name",
            "start_date",
            "planned_end_date",
            "status",
            "discharged_on",
            "discharge_reason",
            "aftercare",
        ]
        read_only_fields = fields

    def get_aftercare(self, obj: Enrollment) -> dict[str, Any] | None:
        if not obj.aftercare_level:
            return None
        data: dict[str, Any] = {"level": obj.aftercare_level}
        if self.context.get("show_aftercare_notes"):
            data["notes"] = obj.aftercare_notes
        return data


class RosterMemberSerializer(serializers.Serializer):
    """What a patient sees of the people in their group: a first name and an initial."""

    display_name = serializers.CharField(source="patient.display_name")
    is_self = serializers.SerializerMethodField()

    def get_is_self(self, obj: Enrollment) -> bool:
        return bool(obj.patient_id == self.context["user_id"])


class EnrollmentCreateSerializer(serializers.Serializer):
    patient = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())
    start_date = serializers.DateField()
    planned_end_date = serializers.DateField(required=False, allow_null=True, default=None)


class DischargeSerializer(serializers.Serializer):
    reason = serializers.ChoiceField(choices=DischargeReason.choices)
    discharged_on = serializers.DateField()
    aftercare = AftercareSerializer()
