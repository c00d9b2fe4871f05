"""Attendance records that are not measured presence: clinicians' corrections and
patients' planned absences. Measured presence is ``rooms.AttendanceSegment``; reports
show both, side by side, never merged into one number without saying so."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from sessions_app.models import Session
from vioip.core.fields import EncryptedTextField
from vioip.core.models import TimeStampedModel

MAX_ADJUSTMENT_MINUTES = 480


class AttendanceAdjustment(TimeStampedModel):
    """Minutes a clinician adds for a patient in a session the room could not measure
    (e.g. a connection failure confirmed by phone). Never edited; add another instead."""

    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, related_name="attendance_adjustments"
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attendance_adjustments"
    )
    minutes = models.PositiveSmallIntegerField()
    # Free text may mention the patient's circumstances: encrypted like clinical text.
    reason = EncryptedTextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["session_id", "patient_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(minutes__gte=1, minutes__lte=MAX_ADJUSTMENT_MINUTES),
                name="attendance_adjustment_minutes_range",
            ),
        ]
        indexes = [models.Index(fields=["patient", "session"])]

    def __str__(self) -> str:
        return f"adjustment {self.pk} for session {self.session_id}"


class PlannedAbsence(TimeStampedModel):
    """A patient told the program ahead that they will miss a session: shown as
    ``excused`` instead of ``absent``."""

    session = models.ForeignKey(Session, on_delete=models.PROTECT, related_name="planned_absences")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="planned_absences"
    )
    reason = EncryptedTextField()

    class Meta:
        ordering = ["session_id", "patient_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "patient"], name="attendance_absence_once_per_session"
            ),
        ]

    def __str__(self) -> str:
        return f"planned absence {self.pk} for session {self.session_id}"
