"""Small, composable permission classes. Roles gate endpoints; object access lives in
each app's selectors (membership of the record's cohort), never in a role alone."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from vioip.accounts.models import Role


def has_role(user: Any, *roles: str) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.role in roles)


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return has_role(request.user, *self.roles)


class IsAdmin(_RolePermission):
    roles = (Role.ADMIN,)


class IsAuditor(_RolePermission):
    roles = (Role.AUDITOR,)


class IsClinician(_RolePermission):
    roles = (Role.CLINICIAN,)


class IsFacilitator(_RolePermission):
    roles = (Role.FACILITATOR,)


class IsPatient(_RolePermission):
    roles = (Role.PATIENT,)


class IsStaff(_RolePermission):
    """Care-team roles: facilitator or clinician (cohort membership is checked per object)."""

    roles = (Role.FACILITATOR, Role.CLINICIAN)


class IsClinicalStaffOrPatient(_RolePermission):
    roles = (Role.FACILITATOR, Role.CLINICIAN, Role.PATIENT)


class IsProgramMember(_RolePermission):
    """Anyone who takes part in a program: not auditors (they see only the audit trail)."""

    roles = (Role.PATIENT, Role.FACILITATOR, Role.CLINICIAN, Role.ADMIN)
