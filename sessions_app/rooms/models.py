"""Live room records: tickets, room flags and the chat counter, participants, chat and
attendance. Everything a second daphne process needs lives here (or in presence), never in
a process's memory."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from sessions_app.models import Session
from vioip.accounts.models import AuthToken
from vioip.core.fields import EncryptedTextField
from vioip.core.models import TimeStampedModel


class RoomTicket(models.Model):
    """A one-time WebSocket ticket. Only its SHA-256 digest is stored.

    A ticket is bound to the bearer token that asked for it: the socket it opens lives only
    as long as that token (logout ends both). A ticket without a token opens nothing."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token = models.ForeignKey(
        AuthToken, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"ticket {self.pk} for session {self.session_id}"


class Room(models.Model):
    """Flags of a session's room, and the row locked to allocate chat ``seq`` numbers."""

    session = models.OneToOneField(
        Session, on_delete=models.CASCADE, primary_key=True, related_name="room"
    )
    last_seq = models.BigIntegerField(default=0)
    locked = models.BooleanField(default=False)
    chat_enabled = models.BooleanField(default=True)
    waiting_room = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"room of session {self.session_id}"


class ParticipantState(models.TextChoices):
    WAITING = "waiting"
    ADMITTED = "admitted"


class Participant(TimeStampedModel):
    """One person in one session's room, however many sockets they have open."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    is_staff = models.BooleanField(default=False)
    state = models.CharField(
        max_length=10, choices=ParticipantState.choices, default=ParticipantState.WAITING
    )
    muted = models.BooleanField(default=False)
    hand_raised = models.BooleanField(default=False)
    # In the room now (a live socket on any process, or within the reconnect grace).
    online = models.BooleanField(default=False)
    removed = models.BooleanField(default=False)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["session_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="rooms_participant_once"),
        ]

    def __str__(self) -> str:
        return f"participant {self.user_id} in session {self.session_id}"


class ChatMessage(models.Model):
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="chat_messages")
    seq = models.BigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    client_id = models.UUIDField()
    text = EncryptedTextField()
    sent_at = models.DateTimeField()
    deleted = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["session_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="rooms_chat_seq_unique"),
            models.UniqueConstraint(
                fields=["session", "sender", "client_id"], name="rooms_chat_client_id_once"
            ),
            models.CheckConstraint(condition=Q(seq__gte=1), name="rooms_chat_seq_positive"),
        ]
        indexes = [models.Index(fields=["session", "sender", "sent_at"])]

    def __str__(self) -> str:
        return f"message {self.seq} of session {self.session_id}"


class AttendanceSegment(models.Model):
    """One admitted stretch of a participant in a session's room.

    ``left_at`` is null while the stretch is open. Reconnects within the grace window do
    not split a stretch; waiting-room time is never a segment.
    """

    session = models.ForeignKey(
        Session, on_delete=models.CASCADE, related_name="attendance_segments"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session_id", "user_id", "joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "user"],
                condition=Q(left_at__isnull=True),
                name="rooms_one_open_segment",
            ),
            models.CheckConstraint(
                condition=Q(left_at__isnull=True) | Q(left_at__gte=models.F("joined_at")),
                name="rooms_segment_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"segment of {self.user_id} in session {self.session_id}"
