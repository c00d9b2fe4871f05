from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from vioip.core.fields import EncryptedTextField
from vioip.core.models import TimeStampedModel


class Track(models.TextChoices):
    MENTAL_HEALTH = "mental_health"
    SUBSTANCE_USE = "substance_use"
    DUAL_DIAGNOSIS = "dual_diagnosis"


class Modality(models.TextChoices):
    VIRTUAL = "virtual"
    IN_PERSON = "in_person"
    HYBRID = "hybrid"


class CohortStatus(models.TextChoices):
    ACTIVE = "active"
    ARCHIVED = "archived"


class Population(models.TextChoices):
    ADULT = "adult"
    ADOLESCENT = "adolescent"


class Cohort(TimeStampedModel):
    name = models.CharField(max_length=200)
    track = models.CharField(max_length=20, choices=Track.choices)
    modality = models.CharField(max_length=12, choices=Modality.choices, default=Modality.VIRTUAL)
    timezone = models.CharField(max_length=64, help_text="IANA time zone name.")
    meeting_days = models.JSONField(help_text="ISO weekdays, 1 = Monday ... 7 = Sunday.")
    start_time = models.TimeField(help_text="Local start time in the cohort's time zone.")
    duration_minutes = models.PositiveSmallIntegerField()
    capacity = models.PositiveSmallIntegerField(default=12)
    program_weeks = models.PositiveSmallIntegerField(default=12)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=CohortStatus.choices, default=CohortStatus.ACTIVE
    )
    waiting_room = models.BooleanField(default=True)
    population = models.CharField(
        max_length=12, choices=Population.choices, default=Population.ADULT
    )
    # Empty: derived from the track (H0015 for substance use, S9480 for mental health).
    billing_code = models.CharField(max_length=16, blank=True)
    # Null: by population (9 h adults, 6 h adolescents, ASAM 2.1).
    weekly_minimum_minutes = models.PositiveIntegerField(null=True, blank=True)
    daily_minimum_minutes = models.PositiveIntegerField(default=180)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=30, duration_minutes__lte=480),
                name="groups_cohort_duration_range",
            ),
            models.CheckConstraint(condition=Q(capacity__gte=1), name="groups_cohort_capacity"),
            models.CheckConstraint(
                condition=Q(program_weeks__gte=1, program_weeks__lte=52),
                name="groups_cohort_program_weeks",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="groups_cohort_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(track__in=Track.values), name="groups_cohort_track_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CohortStatus.values), name="groups_cohort_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class StaffRole(models.TextChoices):
    FACILITATOR = "facilitator"
    CLINICIAN = "clinician"


class CareTeamMember(TimeStampedModel):
    """A staff member assigned to a cohort. Assignment, not role, grants access."""

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="care_team")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="care_team_memberships"
    )
    role = models.CharField(max_length=12, choices=StaffRole.choices)

    class Meta:
        ordering = ["cohort_id", "role", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "user"], name="groups_care_team_unique"),
        ]


class EnrollmentStatus(models.TextChoices):
    ACTIVE = "active"
    DISCHARGED = "discharged"


class DischargeReason(models.TextChoices):
    COMPLETED = "completed"
    STEPPED_DOWN = "stepped_down"
    WITHDRAWN = "withdrawn"
    ADMINISTRATIVE = "administrative"
    TRANSFERRED = "transferred"


class AftercareLevel(models.TextChoices):
    WEEKLY_OUTPATIENT = "weekly_outpatient"
    ALUMNI_GROUP = "alumni_group"
    MEDICATION_MANAGEMENT = "medication_management"
    SUPPORT_GROUP = "support_group"
    PHP = "php"
    RESIDENTIAL = "residential"
    NONE = "none"


class Enrollment(TimeStampedModel):
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="enrollments")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrollments"
    )
    start_date = models.DateField()
    planned_end_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=12, choices=EnrollmentStatus.choices, default=EnrollmentStatus.ACTIVE
    )
    discharged_on = models.DateField(null=True, blank=True)
    discharge_reason = models.CharField(max_length=16, choices=DischargeReason.choices, blank=True)
    discharged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    aftercare_level = models.CharField(max_length=24, choices=AftercareLevel.choices, blank=True)
    aftercare_notes = EncryptedTextField(blank=True, default="")

    class Meta:
        ordering = ["cohort_id", "start_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cohort", "patient"],
                condition=Q(status="active"),
                name="groups_one_active_enrollment_per_cohort",
            ),
            models.CheckConstraint(
                condition=Q(planned_end_date__isnull=True)
                | Q(planned_end_date__gte=models.F("start_date")),
                name="groups_enrollment_planned_end_after_start",
            ),
            models.CheckConstraint(
                condition=Q(status="active", discharged_on__isnull=True)
                | Q(status="discharged", discharged_on__isnull=False),
                name="groups_enrollment_discharge_consistent",
            ),
        ]
        indexes = [models.Index(fields=["patient", "status"])]
