"""The gate in front of every API view for enrolment-only tokens.

A token issued to a user of ``VIOIP_MFA_REQUIRED_ROLES`` who has no second factor yet may
only enrol one, read ``auth/me`` and log out. The check runs in the authentication class
(``BearerTokenAuthentication``), so every view that authenticates a bearer token is gated
whether or not it remembers to: a view opens to such a token only by carrying the explicit
``@enrollment_only_allowed`` marker, and a test lists exactly which views do.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rest_framework import exceptions, status

_MARKER = "mfa_enrollment_only_allowed"

V = TypeVar("V")


class MfaRequired(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = (
        "Set up a second factor first (POST /api/auth/mfa/totp/ or a passkey); "
        "until then this token can only enrol one, read auth/me and log out."
    )
    default_code = "mfa_required"


def enrollment_only_allowed(view_class: V) -> V:
    """Let tokens that must still enrol a second factor call this view."""
    setattr(view_class, _MARKER, True)
    return view_class


def is_allowed(view: Any) -> bool:
    # Only the class's own marker counts: a subclass of an allowed view is gated until it
    # says otherwise.
    cls = view if isinstance(view, type) else type(view)
    return bool(cls.__dict__.get(_MARKER, False))


def check(*, token: Any, view: Any) -> None:
    if getattr(token, "mfa_enrollment_only", False) and not is_allowed(view):
        raise MfaRequired
