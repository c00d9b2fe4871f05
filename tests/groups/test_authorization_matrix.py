"""Who may call which endpoint of cohorts, care teams, enrollment and sessions.

One row per (endpoint, method); one column per caller and their relation to the cohort:
- ``patient``: actively enrolled in the cohort (the session is their individual session);
- ``classmate``: another patient of the cohort; ``other_patient``: enrolled elsewhere;
- ``facilitator``, ``clinician``: on the cohort's care team;
- ``other_clinician``: on another cohort's care team; ``outsider``: on no care team;
- ``admin``, ``auditor``, ``anon`` (no token).

404 means "you may not see this record" (exactly as a missing one), 403 "you see it but
may not change it", or a role refused outright. A new endpoint in groups.urls or
sessions_app.urls without a row fails ``test_every_endpoint_has_a_row``. Every row is also
refused (403 ``mfa_required``) to a token that must first enrol a second factor.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver
from django.utils import timezone
from rest_framework.test import APIClient

import groups.urls
import sessions_app.urls
from groups.models import Enrollment
from tests.factories import EnrollmentFactory, SessionFactory, UserFactory
from vioip.accounts.models import Role
from vioip.accounts.tokens import token_issue

ACTORS = [
    "anon",
    "patient",
    "classmate",
    "other_patient",
    "facilitator",
    "clinician",
    "other_clinician",
    "outsider",
    "admin",
    "auditor",
]


def _row(**statuses: int) -> dict[str, int]:
    assert set(statuses) == set(ACTORS), set(ACTORS) ^ set(statuses)
    return statuses


def everyone_but_auditor(ok: int) -> dict[str, int]:
    return _row(
        anon=401,
        patient=ok,
        classmate=ok,
        other_patient=ok,
        facilitator=ok,
        clinician=ok,
        other_clinician=ok,
        outsider=ok,
        admin=ok,
        auditor=403,
    )


def members_read(ok: int = 200, classmate: int = 200) -> dict[str, int]:
    return _row(
        anon=401,
        patient=ok,
        classmate=classmate,
        other_patient=404,
        facilitator=ok,
        clinician=ok,
        other_clinician=404,
        outsider=404,
        admin=ok,
        auditor=403,
    )


def write(
    *, admin: int, facilitator: int = 403, clinician: int = 403, classmate: int = 403
) -> dict[str, int]:
    return _row(
        anon=401,
        patient=403,
        classmate=classmate,
        other_patient=404,
        facilitator=facilitator,
        clinician=clinician,
        other_clinician=404,
        outsider=404,
        admin=admin,
        auditor=403,
    )


def only_admin_creates() -> dict[str, int]:
    return _row(
        anon=401,
        patient=403,
        classmate=403,
        other_patient=403,
        facilitator=403,
        clinician=403,
        other_clinician=403,
        outsider=403,
        admin=201,
        auditor=403,
    )


def cohort_body(w: Any) -> dict[str, Any]:
    return {
        "name": "Weekend DD IOP",
        "track": "dual_diagnosis",
        "timezone": "America/Chicago",
        "meeting_days": [6, 7],
        "start_time": "10:00",
        "duration_minutes": 180,
        "start_date": "2026-01-10",
    }


def yesterday() -> str:
    return (timezone.localdate() - dt.timedelta(days=1)).isoformat()


# (url name, method) -> (request builder, expected status per actor)
Builder = Callable[[Any], tuple[str, dict[str, Any] | None]]
MATRIX: dict[tuple[str, str], tuple[Builder, dict[str, int]]] = {
    ("cohort-list", "get"): (lambda w: ("/api/cohorts/", None), everyone_but_auditor(200)),
    ("cohort-list", "post"): (lambda w: ("/api/cohorts/", cohort_body(w)), only_admin_creates()),
    ("cohort-detail", "get"): (lambda w: (f"/api/cohorts/{w.cohort.pk}/", None), members_read()),
    ("cohort-detail", "patch"): (
        lambda w: (f"/api/cohorts/{w.cohort.pk}/", {"capacity": 10}),
        write(admin=200),
    ),
    ("cohort-staff", "get"): (
        lambda w: (f"/api/cohorts/{w.cohort.pk}/staff/", None),
        members_read(),
    ),
    ("cohort-staff", "post"): (
        lambda w: (
            f"/api/cohorts/{w.cohort.pk}/staff/",
            {"user": w.new_facilitator.pk, "role": "facilitator"},
        ),
        write(admin=201),
    ),
    ("cohort-staff-member", "delete"): (
        lambda w: (f"/api/cohorts/{w.cohort.pk}/staff/{w.facilitator.pk}/", None),
        write(admin=204),
    ),
    ("cohort-enrollments", "get"): (
        lambda w: (f"/api/cohorts/{w.cohort.pk}/enrollments/", None),
        members_read(),
    ),
    ("cohort-enrollments", "post"): (
        lambda w: (
            f"/api/cohorts/{w.cohort.pk}/enrollments/",
            {"patient": w.new_patient.pk, "start_date": yesterday()},
        ),
        write(admin=201),
    ),
    ("cohort-enrollment-discharge", "post"): (
        lambda w: (
            f"/api/cohorts/{w.cohort.pk}/enrollments/{w.enrollment.pk}/discharge/",
            {
                "reason": "completed",
                "discharged_on": yesterday(),
                "aftercare": {"level": "alumni_group", "notes": "Thursday alumni group."},
            },
        ),
        write(admin=200),
    ),
    ("cohort-sessions-generate", "post"): (
        lambda w: (
            f"/api/cohorts/{w.cohort.pk}/sessions/generate/",
            {"from": "2027-03-01", "to": "2027-03-14"},
        ),
        write(admin=201, facilitator=201, clinician=201),
    ),
    ("session-list", "get"): (lambda w: ("/api/sessions/", None), everyone_but_auditor(200)),
    ("session-list", "post"): (
        lambda w: (
            "/api/sessions/",
            {
                "cohort": w.cohort.pk,
                "kind": "workshop",
                "title": "Relapse prevention",
                "starts_at": "2027-03-02T23:00:00Z",
                "ends_at": "2027-03-03T00:30:00Z",
            },
        ),
        # Staff of other cohorts cannot name this cohort at all: a field error, as for a
        # cohort that does not exist.
        _row(
            anon=401,
            patient=403,
            classmate=403,
            other_patient=403,
            facilitator=201,
            clinician=201,
            other_clinician=400,
            outsider=400,
            admin=201,
            auditor=403,
        ),
    ),
    # An individual session: among patients, only its own patient sees it.
    ("session-detail", "get"): (
        lambda w: (f"/api/sessions/{w.session.pk}/", None),
        members_read(classmate=404),
    ),
    ("session-detail", "patch"): (
        lambda w: (f"/api/sessions/{w.session.pk}/", {"title": "Coping skills"}),
        write(admin=200, facilitator=200, clinician=200, classmate=404),
    ),
    ("session-cancel", "post"): (
        lambda w: (f"/api/sessions/{w.session.pk}/cancel/", {"reason": "Facilitator ill"}),
        write(admin=200, facilitator=200, clinician=200, classmate=404),
    ),
    ("me-sessions", "get"): (lambda w: ("/api/me/sessions/", None), everyone_but_auditor(200)),
}


def _endpoints() -> set[tuple[str, str]]:
    found = set()

    def walk(patterns: list[URLPattern | URLResolver]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            view = pattern.callback.view_class  # type: ignore[attr-defined]
            for method in view.http_method_names:
                if method not in ("options", "head") and hasattr(view, method):
                    found.add((pattern.name, method))

    walk(groups.urls.urlpatterns)
    walk(sessions_app.urls.urlpatterns)
    return found


def test_every_endpoint_has_a_row() -> None:
    assert _endpoints() == set(MATRIX)


class World:
    def __init__(self, cast: Any) -> None:
        self.__dict__.update(vars(cast))
        self.new_facilitator = UserFactory(role=Role.FACILITATOR)
        self.new_patient = UserFactory(role=Role.PATIENT)
        self.classmate = UserFactory(role=Role.PATIENT)
        EnrollmentFactory(cohort=cast.cohort, patient=self.classmate)
        self.enrollment = Enrollment.objects.get(cohort=cast.cohort, patient=cast.patient)
        starts = timezone.now() + dt.timedelta(days=2)
        self.session = SessionFactory(
            cohort=cast.cohort, kind="individual", patient=cast.patient, starts_at=starts
        )


CASES = [
    pytest.param(name, method, actor, expected[actor], id=f"{method}-{name}-{actor}")
    for (name, method), (_build, expected) in MATRIX.items()
    for actor in ACTORS
]


@pytest.mark.parametrize(("name", "method", "actor", "expected"), CASES)
def test_authorization_matrix(cast, client_for, name, method, actor, expected):
    world = World(cast)
    build, _ = MATRIX[(name, method)]
    url, body = build(world)
    client = client_for(None if actor == "anon" else getattr(world, actor))
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == expected, response.content


# An enrolment-only token (a user of VIOIP_MFA_REQUIRED_ROLES without a second factor) is
# refused by every endpoint above, whatever the caller's role or relation to the cohort.
ENROLMENT_ONLY_CASES = [
    pytest.param(name, method, actor, id=f"{method}-{name}-{actor}-enrolment-only")
    for (name, method) in MATRIX
    for actor in ACTORS
    if actor != "anon"
]


@pytest.mark.parametrize(("name", "method", "actor"), ENROLMENT_ONLY_CASES)
def test_an_enrolment_only_token_is_refused_everywhere(cast, name, method, actor):
    world = World(cast)
    build, _ = MATRIX[(name, method)]
    url, body = build(world)
    client = APIClient()
    issued = token_issue(user=getattr(world, actor), mfa_enrollment_only=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
    response = getattr(client, method)(url, body, format="json")
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "mfa_required"
