"""The fixed cast every test can use.

- ``patient`` (Alex Rivera) is actively enrolled in ``cohort``;
- ``other_patient`` (Blake Stone) is enrolled in ``other_cohort`` only;
- ``facilitator`` and ``clinician`` are on ``cohort``'s care team (not ``other_cohort``'s);
- ``other_clinician`` is on ``other_cohort``'s care team only;
- ``admin``, ``auditor``; ``outsider`` is a clinician on no care team.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.db import connections
from rest_framework.test import APIClient

from tests.factories import (
    CareTeamFactory,
    CohortFactory,
    EnrollmentFactory,
    SessionFactory,
    UserFactory,
)
from vioip.accounts.models import Role, User
from vioip.accounts.tokens import token_issue


@pytest.fixture(scope="session", autouse=True)
def _flush_past_the_audit_truncate_guard() -> Any:
    # On PostgreSQL a trigger refuses TRUNCATE of the audit tables; the flush that ends each
    # transactional test truncates every table, so it lifts the trigger as the table owner
    # (inside the flush's own transaction) the way only a test harness should.
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    guards = [
        ("audit_auditevent", "audit_event_no_truncate"),
        ("audit_auditchainhead", "audit_head_no_truncate"),
    ]

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        sql = original(self, style, tables, **kwargs)
        lifted = [(table, trigger) for table, trigger in guards if table in tables]
        if not sql or not lifted:
            return sql
        return (
            [f"ALTER TABLE {t} DISABLE TRIGGER {g};" for t, g in lifted]
            + sql
            + [f"ALTER TABLE {t} ENABLE TRIGGER {g};" for t, g in lifted]
        )

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # Tests create many users; the production hasher is deliberately slow.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache() -> Any:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _room_calls_on_one_thread(settings: Any) -> None:
    # In this process, room consumers use Django's one shared thread: connections of a
    # room thread pool would outlive each test and keep PostgreSQL from dropping the test
    # database. The daphne processes the multi-process and fault tests start use the pool.
    settings.ROOM_DB_THREADS = 1


@pytest.fixture(autouse=True)
async def _close_async_db_connections() -> Any:
    # Async ORM calls can leave connections open on worker threads; PostgreSQL then
    # refuses to drop the test database.
    yield
    await sync_to_async(connections.close_all)()


@dataclass
class Cast:
    patient: User
    other_patient: User
    facilitator: User
    clinician: User
    other_clinician: User
    admin: User
    auditor: User
    outsider: User
    cohort: Any
    other_cohort: Any


@pytest.fixture
def cast(db: Any) -> Cast:
    cohort = CohortFactory(name="Evening SUD IOP")
    other_cohort = CohortFactory(name="Morning MH IOP", track="mental_health")
    patient = UserFactory(username="alex", role=Role.PATIENT, first_name="Alex", last_name="Rivera")
    other_patient = UserFactory(
        username="blake", role=Role.PATIENT, first_name="Blake", last_name="Stone"
    )
    facilitator = UserFactory(username="fac", role=Role.FACILITATOR, first_name="Maria")
    clinician = UserFactory(username="clin", role=Role.CLINICIAN, first_name="Lin")
    other_clinician = UserFactory(username="clin2", role=Role.CLINICIAN, first_name="Ravi")
    admin = UserFactory(username="admin", role=Role.ADMIN)
    auditor = UserFactory(username="auditor", role=Role.AUDITOR)
    outsider = UserFactory(username="outsider", role=Role.CLINICIAN)
    EnrollmentFactory(cohort=cohort, patient=patient)
    EnrollmentFactory(cohort=other_cohort, patient=other_patient)
    CareTeamFactory(cohort=cohort, user=facilitator, role="facilitator")
    CareTeamFactory(cohort=cohort, user=clinician, role="clinician")
    CareTeamFactory(cohort=other_cohort, user=other_clinician, role="clinician")
    return Cast(
        patient=patient,
        other_patient=other_patient,
        facilitator=facilitator,
        clinician=clinician,
        other_clinician=other_clinician,
        admin=admin,
        auditor=auditor,
        outsider=outsider,
        cohort=cohort,
        other_cohort=other_cohort,
    )


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db: Any) -> Callable[[User | None], APIClient]:
    """An API client authenticated as ``user`` with a real bearer token (None: anonymous)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            issued = token_issue(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw}")
        return client

    return make


@pytest.fixture
def live_session(cast: Cast) -> Any:
    """A group session of ``cast.cohort`` that started five minutes ago."""
    return SessionFactory(cohort=cast.cohort)
