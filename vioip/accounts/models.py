from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import connection, models

from vioip.core.fields import EncryptedTextField


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


def display_name(*, role: str, username: str, first_name: str, last_name: str) -> str:
    """How other participants see a user (``User.display_name``), from the columns alone,
    for reads that take rows rather than users: patients by first name and last initial."""
    if role == Role.PATIENT:
        initial = f" {last_name[:1]}." if last_name else ""
        return f"{first_name or 'Participant'}{initial}"
    full = f"{first_name} {last_name}".strip()
    return full or username


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
        return display_name(
            role=self.role,
            username=self.username,
            first_name=self.first_name,
            last_name=self.last_name,
        )


# A user read whole as columns of another model's query (vioip.core.prepared: a ticket's or
# a token's user in one compiled join), and made back into a User.
_USER_FIELDS = tuple(field.attname for field in User._meta.concrete_fields)


def user_columns(relation: str) -> tuple[str, ...]:
    """The ``values_list`` names of every column of the user at ``relation``."""
    return tuple(f"{relation}__{name}" for name in _USER_FIELDS)


def user_from_row(values: Sequence[Any]) -> User:
    """The user whose ``user_columns`` are ``values``, as the ORM would have loaded it."""
    return User.from_db(connection.alias, _USER_FIELDS, values)


class AuthToken(models.Model):
    """A bearer token. Only its SHA-256 digest is stored; the token itself is shown once."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="auth_tokens")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField()
    expires_at = models.DateTimeField(help_text="Absolute end of life.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Issued to a user of VIOIP_MFA_REQUIRED_ROLES who has no second factor yet: it may only
    # enrol one, read auth/me and log out (vioip/accounts/mfa_gate.py).
    mfa_enrollment_only = models.BooleanField(default=False)
    # When this token's holder last proved a second factor (login or enrolment): removing a
    # factor needs a recent one.
    mfa_verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"token {self.pk} of user {self.user_id}"


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238). Active once confirmed with a first code."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    # Encrypted at rest: whoever reads the secret can make codes.
    secret = EncryptedTextField()
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last accepted 30-second step: a code of that step or an earlier one is a replay.
    last_used_step = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"totp of user {self.user_id}"


class RecoveryCode(models.Model):
    """One single-use recovery code, stored as a keyed digest (see ``mfa.recovery_digest``)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}"


class WebAuthnCredential(models.Model):
    """A passkey (WebAuthn public-key credential). Only public material is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="webauthn_credentials")
    credential_id = models.CharField(max_length=1400, unique=True)  # base64url
    public_key = models.BinaryField()
    sign_count = models.BigIntegerField(default=0)
    name = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"passkey {self.pk} of user {self.user_id}"


class MfaChallenge(models.Model):
    """The second step of a login: issued after the right password, stored as a digest."""

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    failures = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    # The WebAuthn challenge of the assertion asked for with this login challenge, if any.
    webauthn_challenge = models.BinaryField(null=True, blank=True)

    def __str__(self) -> str:
        return f"mfa challenge {self.pk} of user {self.user_id}"
