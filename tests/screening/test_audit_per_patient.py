"""Every screening read that touches patient data writes exactly one audit event per
patient touched, so ``GET /api/audit/?patient=N`` (as the auditor) lists everything anyone
saw about patient N: one event for a single record, one per patient on a list page however
many of their rows it shows, and never clinical text in the event's detail."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from tests.factories import EnrollmentFactory, UserFactory
from tests.screening.conftest import NEGATIVE_PANEL
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db

PURPOSE = "Compliance with conditions of probation"


def _ok(response: Any, code: int = 200) -> Any:
    assert response.status_code == code, response.content
    return response.json()


@pytest.fixture
def world(cast: Any, client_for: Any) -> dict[str, Any]:
    """Two patients of the cohort with screening records: ``P`` (two tests) and ``Q``."""
    second = EnrollmentFactory(
        cohort=cast.cohort, patient=UserFactory(role=Role.PATIENT, first_name="Quinn")
    ).patient
    clin = client_for(cast.clinician)
    made: dict[str, Any] = {"P": cast.patient, "Q": second, "tests": {}, "consents": {}}
    for patient, count in ((cast.patient, 2), (second, 1)):
        ids = []
        for _ in range(count):
            test = _ok(
                clin.post(
                    "/api/screening/tests/",
                    {
                        "patient": patient.pk,
                        "collected_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
                        "specimen": "urine",
                        "observed": True,
                        "reason": "scheduled",
                    },
                    format="json",
                ),
                201,
            )
            _ok(
                clin.post(
                    f"/api/screening/tests/{test['id']}/results/",
                    {"results": NEGATIVE_PANEL},
                    format="json",
                )
            )
            ids.append(test["id"])
        made["tests"][patient.pk] = ids
        consent = _ok(
            clin.post(
                "/api/screening/consents/",
                {
                    "patient": patient.pk,
                    "information": ["screening_results"],
                    "recipient": {"name": "Officer Dana Reyes"},
                    "purpose": PURPOSE,
                    "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
                    "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
                    "signature_method": "electronic",
                },
                format="json",
            ),
            201,
        )
        made["consents"][patient.pk] = consent["id"]
        made.setdefault("disclosures", {})[patient.pk] = _ok(
            clin.post(
                "/api/screening/disclosures/",
                {
                    "consent": consent["id"],
                    "from": (timezone.localdate() - dt.timedelta(days=7)).isoformat(),
                    "to": timezone.localdate().isoformat(),
                },
                format="json",
            ),
            201,
        )["disclosure"]
    _ok(
        clin.post(
            "/api/screening/medications/",
            {
                "patient": cast.patient.pk,
                "name": "buprenorphine",
                "start_date": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
            },
            format="json",
        ),
        201,
    )
    day = timezone.localtime(timezone.now(), ZoneInfo("America/New_York")).date()
    made["draw"] = _ok(
        clin.post(
            "/api/screening/draws/",
            {"cohort": cast.cohort.pk, "date": day.isoformat(), "rate": "1"},
            format="json",
        ),
        201,
    )["id"]
    return made


# (reader, url, touches the second patient too)
def _reads(cast: Any, w: dict[str, Any]) -> list[tuple[str, str, bool]]:
    p = cast.patient.pk
    test, consent, disclosure = w["tests"][p][0], w["consents"][p], w["disclosures"][p]
    return [
        ("clinician", "/api/screening/tests/", True),
        ("clinician", f"/api/screening/tests/?patient={p}", False),
        ("clinician", f"/api/screening/tests/{test}/", False),
        ("clinician", f"/api/screening/tests/{test}/fhir/", False),
        ("clinician", "/api/screening/consents/", True),
        ("clinician", f"/api/screening/consents/?patient={p}", False),
        ("clinician", f"/api/screening/consents/{consent}/", False),
        ("clinician", f"/api/screening/consents/{consent}/fhir/", False),
        ("clinician", "/api/screening/disclosures/", True),
        ("clinician", f"/api/screening/disclosures/?patient={p}", False),
        ("clinician", f"/api/screening/disclosures/{disclosure}/", False),
        ("clinician", f"/api/screening/medications/?patient={p}", False),
        ("clinician", "/api/screening/draws/", True),
        ("clinician", f"/api/screening/draws/{w['draw']}/", True),
        ("facilitator", f"/api/screening/compliance/?cohort={cast.cohort.pk}", True),
        ("patient", "/api/me/records/screening/", False),
        ("patient", "/api/me/records/disclosures/", False),
        ("patient", "/api/screening/consents/", False),
        ("patient", f"/api/screening/tests/{test}/", False),
        ("patient", f"/api/screening/disclosures/{disclosure}/", False),
    ]


def _trail(auditor: Any, patient: Any, actor: Any) -> list[dict[str, Any]]:
    body = _ok(auditor.get(f"/api/audit/?patient={patient.pk}&actor={actor.pk}&page_size=500"))
    return list(body["results"])


def test_every_read_writes_one_event_per_patient_touched(
    cast: Any, client_for: Any, world: dict[str, Any]
) -> None:
    auditor = client_for(cast.auditor)
    first, second = world["P"], world["Q"]
    for role, url, touches_second in _reads(cast, world):
        reader = getattr(cast, role)
        before = {p.pk: len(_trail(auditor, p, reader)) for p in (first, second)}
        _ok(client_for(reader).get(url))
        after_first = _trail(auditor, first, reader)
        after_second = _trail(auditor, second, reader)
        assert len(after_first) - before[first.pk] == 1, url
        assert len(after_second) - before[second.pk] == (1 if touches_second else 0), url
        event = after_first[0]  # newest first
        assert event["action"] in ("read", "export"), url
        # Identifiers and codes only: nothing a clinician or the patient wrote.
        detail = json.dumps(event["detail"])
        for text in ("negative", "Reyes", PURPOSE, "buprenorphine", "urine"):
            assert text not in detail, (url, detail)


def test_a_page_with_several_of_a_patients_tests_is_one_event_naming_them(
    cast: Any, client_for: Any, world: dict[str, Any]
) -> None:
    auditor = client_for(cast.auditor)
    rows = _ok(client_for(cast.clinician).get("/api/screening/tests/"))["results"]
    shown = sorted(r["id"] for r in rows if r["patient"] == world["P"].pk)
    # The two tests recorded and the order of the random draw.
    assert len(shown) == 3 and set(world["tests"][world["P"].pk]) < set(shown)
    event = _trail(auditor, world["P"], cast.clinician)[0]
    assert (event["action"], event["object_type"]) == ("read", "drug_test")
    assert event["detail"] == {"ids": shown}


def test_a_fhir_export_is_audited_as_an_export_of_that_patients_record(
    cast: Any, client_for: Any, world: dict[str, Any]
) -> None:
    auditor = client_for(cast.auditor)
    test = world["tests"][cast.patient.pk][0]
    _ok(client_for(cast.clinician).get(f"/api/screening/tests/{test}/fhir/"))
    event = _trail(auditor, cast.patient, cast.clinician)[0]
    assert (event["action"], event["object_type"], event["object_id"]) == (
        "export",
        "drug_test",
        str(test),
    )
    assert event["detail"] == {"format": "fhir"}
