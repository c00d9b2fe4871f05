"""Confidential clinical notes.

Every column that can hold what a clinician wrote is an ``EncryptedTextField``; only codes
(kind, status, format) and identifiers are stored in clear, so notes can be
listed and filtered without decrypting anything.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from groups.models import Cohort
from sessions_app.models import Session
from vioip.core.fields import EncryptedTextField
from vioip.core.models import TimeStampedModel


class NoteKind(models.TextChoices):
    GROUP = "group"
    PROGRESS = "progress"
    # HIPAA psychotherapy notes / Part 2 counseling notes: kept apart, author only.
    PSYCHOTHERAPY = "psychotherapy"


class NoteStatus(models.TextChoices):
    DRAFT = "draft"
    SIGNED = "signed"


class NoteFormat(models.TextChoices):
    SOAP = "SOAP"
    DAP = "DAP"
    BIRP = "BIRP"
    GIRP = "GIRP"


# The sections each progress-note format requires, in the order clinicians write them.
FORMAT_SECTIONS: dict[str, tuple[str, ...]] = {
    NoteFormat.SOAP: ("subjective", "objective", "assessment", "plan"),
    NoteFormat.DAP: ("data", "assessment", "plan"),
    NoteFormat.BIRP: ("behavior", "intervention", "response", "plan"),
    NoteFormat.GIRP: ("goals", "intervention", "response", "plan"),
}


class RiskLevel(models.TextChoices):
    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


class Note(TimeStampedModel):
    kind = models.CharField(max_length=16, choices=NoteKind.choices)
    status = models.CharField(max_length=8, choices=NoteStatus.choices, default=NoteStatus.DRAFT)
    # The cohort whose care team the note belongs to (the session's, or the patient's).
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="notes")
    session = models.ForeignKey(
        Session, on_delete=models.PROTECT, null=True, blank=True, related_name="notes"
    )
    # The one patient of a progress or psychotherapy note; group notes have entries instead.
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notes_about",
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notes_written"
    )
    # When the care happened: the session's start, or the note's creation without one.
    occurred_at = models.DateTimeField(db_index=True)

    # Group note, shared part (must not name patients).
    topic = EncryptedTextField(blank=True, default="")
    interventions = EncryptedTextField(blank=True, default="")
    themes = EncryptedTextField(blank=True, default="")
    # Progress note: format code in clear, sections as encrypted JSON.
    format = models.CharField(max_length=4, choices=NoteFormat.choices, blank=True)
    sections = EncryptedTextField(blank=True, default="")
    # Psychotherapy note.
    text = EncryptedTextField(blank=True, default="")

    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    cosigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    cosigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=NoteKind.values), name="notes_note_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(status__in=NoteStatus.values), name="notes_note_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind="group", patient__isnull=True, session__isnull=False)
                | Q(kind__in=["progress", "psychotherapy"], patient__isnull=False),
                name="notes_note_subject_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind="progress", format__in=NoteFormat.values)
                | (~Q(kind="progress") & Q(format="")),
                name="notes_note_format_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(status="draft", signed_at__isnull=True, signed_by__isnull=True)
                | (
                    Q(status="signed", signed_at__isnull=False, signed_by__isnull=False)
                    & ~Q(content_hash="")
                ),
                name="notes_note_signature_consistent",
            ),
            models.CheckConstraint(
                condition=Q(cosigned_by__isnull=True) | Q(status="signed"),
                name="notes_note_cosign_after_sign",
            ),
            models.UniqueConstraint(
                fields=["session"], condition=Q(kind="group"), name="notes_one_group_note"
            ),
        ]
        indexes = [
            models.Index(fields=["cohort", "status", "occurred_at"]),
            models.Index(fields=["patient", "kind", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} note {self.pk}"


class GroupNoteEntry(models.Model):
    """One patient's part of a group note; the only place a group note speaks of them."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="entries")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="group_note_entries"
    )
    participation = EncryptedTextField(blank=True, default="")
    progress = EncryptedTextField(blank=True, default="")
    mood = EncryptedTextField(blank=True, default="")
    # A risk level is clinical content: encrypted like the text beside it. The serializers
    # and the service validate it against RiskLevel (a check constraint can't see inside).
    risk = EncryptedTextField(choices=RiskLevel.choices, default=RiskLevel.NONE)
    follow_up = EncryptedTextField(blank=True, default="")

    class Meta:
        ordering = ["note_id", "patient_id"]
        constraints = [
            models.UniqueConstraint(fields=["note", "patient"], name="notes_one_entry_per_patient"),
        ]

    def __str__(self) -> str:
        return f"entry {self.pk} of note {self.note_id}"


class Addendum(models.Model):
    """A correction to a signed note: signed on creation, never edited."""

    note = models.ForeignKey(Note, on_delete=models.PROTECT, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField()
    signed_at = models.DateTimeField()
    content_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["note_id", "signed_at", "id"]

    def __str__(self) -> str:
        return f"addendum {self.pk} of note {self.note_id}"


class EmergencyAccessGrant(models.Model):
    """Break-the-glass: a clinician outside the care team reads one patient's notes for a
    short time. Granted on the clinician's own word and reviewed afterwards by the auditor."""

    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="emergency_grants"
    )
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = EncryptedTextField()
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("granted_at")),
                name="notes_grant_expires_after_granted",
            ),
        ]
        indexes = [models.Index(fields=["clinician", "patient", "expires_at"])]

    def __str__(self) -> str:
        return f"emergency grant {self.pk}"
