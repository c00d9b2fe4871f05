from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from django.core.management import call_command

from screening import demo
from screening.models import Consent, Disclosure, Draw, DrugTest
from tests.factories import EnrollmentFactory, UserFactory
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db


def _counts() -> tuple[int, ...]:
    return (
        DrugTest.objects.count(),
        Draw.objects.count(),
        Consent.objects.count(),
        Disclosure.objects.count(),
    )


def test_demo_adds_tests_a_draw_a_consent_and_a_disclosure_once(cast: Any) -> None:
    for _ in range(3):
        EnrollmentFactory(cohort=cast.cohort, patient=UserFactory(role=Role.PATIENT))
    context: dict[str, Any] = {"cohorts": {"sud": cast.cohort}}
    demo.seed(context)
    tests, draws, consents, disclosures = _counts()
    assert tests >= 3 + 1  # three collected tests and at least one drawn order
    assert (draws, consents, disclosures) == (1, 1, 1)
    assert DrugTest.objects.filter(status="reviewed").exists()
    first = _counts()
    demo.seed(context)
    assert _counts() == first


def test_demo_without_the_cohort_says_so_and_adds_nothing(db: Any) -> None:
    context: dict[str, Any] = {}
    demo.seed(context)
    assert _counts() == (0, 0, 0, 0)
    assert any("Screening demo skipped" in n for n in context["notes"])


@pytest.mark.skipif(
    importlib.util.find_spec("groups.demo") is None, reason="the cohort demo is not there yet"
)
def test_seed_demo_command_is_idempotent_for_screening(settings: Any, db: Any) -> None:
    settings.DEBUG = True
    call_command("seed_demo")
    first = _counts()
    call_command("seed_demo")
    assert _counts() == first


def test_schema_stays_valid(client_for: Any, cast: Any) -> None:
    response = client_for(None).get("/api/schema/")
    assert response.status_code == 200
    text = response.content.decode()
    for path in (
        "/api/screening/tests/",
        "/api/screening/disclosures/",
        "/api/me/records/screening/",
        "/api/screening/compliance/",
    ):
        assert path in text
