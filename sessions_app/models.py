from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from groups.models import Cohort
from vioip.core.fields import EncryptedTextField
from vioip.core.models import TimeStampedModel


class SessionKind(models.TextChoices):
    GROUP_THERAPY = "group_therapy"
    INDIVIDUAL = "individual"
    FAMILY = "family"
    WORKSHOP = "workshop"


# Kinds that concern one patient only: visible to that patient alone among patients.
PATIENT_KINDS = frozenset({SessionKind.INDIVIDUAL, SessionKind.FAMILY})


class SessionStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Session(TimeStampedModel):
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="sessions")
    kind = models.CharField(max_length=16, choices=SessionKind.choices)
    title = models.CharField(max_length=200)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=SessionStatus.choices, default=SessionStatus.SCHEDULED
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="own_sessions",
    )
    waiting_room = models.BooleanField(default=True)
    # Set by schedule generation; with the constraint below it makes generation idempotent.
    generated = models.BooleanField(default=False)
    # The slot a generated session was made for. Kept when the session is moved or
    # cancelled, so generating again does not refill the slot.
    generated_slot = models.DateTimeField(null=True, blank=True)
    # A make-up session offered for a missed one (counts toward the week it is held in).
    makeup_for = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="makeups"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Free text that may name a patient's circumstances: encrypted like clinical text.
    cancel_reason = EncryptedTextField(blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="sessions_session_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["individual", "family"], patient__isnull=False)
                | Q(kind__in=["group_therapy", "workshop"], patient__isnull=True),
                name="sessions_session_patient_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["cohort", "generated_slot"],
                condition=Q(generated=True),
                name="sessions_generated_once_per_slot",
            ),
            models.CheckConstraint(
                condition=Q(generated=False) | Q(generated_slot__isnull=False),
                name="sessions_generated_has_slot",
            ),
        ]
        indexes = [
            models.Index(fields=["cohort", "starts_at"]),
            models.Index(fields=["patient", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.starts_at:%Y-%m-%d %H:%M} UTC)"
