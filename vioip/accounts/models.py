from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    FACILITATOR = "facilitator", "Facilitator"
    CLINICIAN = "clinician", "Clinician"
    ADMIN = "admin", "Program administrator"
    AUDITOR = "auditor", "Auditor (privacy officer)"


STAFF_ROLES = frozenset({Role.FACILITATOR, Role.CLINICIAN})


class UserManager(DjangoUserManager["User"]):
    def create_superuser(  # type: ignore[override]
        self, username: str, email: str | None = None, password: str | None = None, **extra: Any
    ) -> User:
        extra["role"] = Role.ADMIN
        return super().create_superuser(username, email, password, **extra)


class User(AbstractUser):
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="accounts_user_role_valid"
            )
        ]

    @property
    def display_name(self) -> str:
        """How other participants see this user: patients by first name and last initial."""
        if self.role == Role.PATIENT:
            initial = f" {self.last_name[:1]}." if self.last_name else ""
            return f"{self.first_name or 'Participant'}{initial}"
        full = f"{self.first_name} {self.last_name}".strip()
        return full or self.username


class AuthToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token itself is shown once."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_tokens")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Absolute end of life.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"token {self.pk} of user {self.user_id}"
