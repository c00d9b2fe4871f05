"""Demo users for the embedded default. Every demo account shares one password."""

from __future__ import annotations

from typing import Any

from vioip.accounts.models import Role, User

DEMO_PASSWORD = "demo-vioip-2026"  # noqa: S105 - published on purpose, demo only

STAFF = [
    ("admin", Role.ADMIN, "Ada", "Admin"),
    ("auditor", Role.AUDITOR, "Priya", "Officer"),
    ("fac.maria", Role.FACILITATOR, "Maria", "Lopez"),
    ("fac.james", Role.FACILITATOR, "James", "Okafor"),
    ("dr.chen", Role.CLINICIAN, "Lin", "Chen"),
    ("dr.patel", Role.CLINICIAN, "Ravi", "Patel"),
]
PATIENTS = [
    ("alex", "Alex", "Rivera"),
    ("sam", "Sam", "Taylor"),
    ("jordan", "Jordan", "Kim"),
    ("casey", "Casey", "Nguyen"),
    ("riley", "Riley", "Brooks"),
    ("morgan", "Morgan", "Diaz"),
    ("jamie", "Jamie", "Foster"),
    ("avery", "Avery", "Singh"),
    ("quinn", "Quinn", "Murphy"),
    ("drew", "Drew", "Hughes"),
    ("skyler", "Skyler", "Reed"),
    ("rowan", "Rowan", "Price"),
]


def _user(username: str, role: str, first: str, last: str) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"role": role, "first_name": first, "last_name": last},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    return user


def seed(context: dict[str, Any]) -> None:
    users = {u: _user(u, role, f, last) for u, role, f, last in STAFF}
    patients = [_user(u, Role.PATIENT, f, last) for u, f, last in PATIENTS]
    context["users"] = users
    context["patients"] = patients
    context.setdefault("logins", []).extend(
        [(u, role) for u, role, _f, _l in STAFF] + [(u, Role.PATIENT) for u, *_ in PATIENTS[:2]]
    )
