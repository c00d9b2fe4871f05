"""Who may change what in a cohort. Seeing a cohort is the selectors' business (404
otherwise); these checks decide whether a caller who can see it may also change it (403
otherwise)."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import PermissionDenied

from groups.models import Cohort
from groups.selectors import is_cohort_staff
from vioip.accounts.models import Role


def can_manage_cohort(*, user: Any, cohort: Cohort) -> bool:
    """Cohort settings and care teams: program administration only."""
    return bool(user.role == Role.ADMIN)


def can_enroll(*, user: Any, cohort: Cohort) -> bool:
    """Admissions and discharges make and end the care relationship, which is what opens a
    patient's records to the care team: program administration only, so no member of a
    care team grants themselves a patient."""
    return bool(user.role == Role.ADMIN)


def can_schedule(*, user: Any, cohort: Cohort) -> bool:
    """Sessions: admins and the cohort's care team."""
    return user.role == Role.ADMIN or is_cohort_staff(user=user, cohort_id=cohort.pk)


def require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied("Your role on this cohort does not allow this change.")
