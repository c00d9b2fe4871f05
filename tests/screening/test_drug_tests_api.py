from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from screening.models import AnalyteResult, DrugTest
from tests.screening.conftest import NEGATIVE_PANEL, events

pytestmark = pytest.mark.django_db


def test_clinician_records_a_test_and_reads_it_with_results_and_versions(
    clin: Any, new_test: Any
) -> None:
    test = new_test()
    assert test["status"] == "collected"
    assert test["overall"] is None
    response = clin.get(f"/api/screening/tests/{test['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert {"overall", "results", "validity", "versions"} <= body.keys()


def test_full_workflow_collected_resulted_reviewed(clin: Any, new_test: Any) -> None:
    test = new_test()
    response = clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {
            "results": NEGATIVE_PANEL,
            "validity": {
                "creatinine": "80",
                "specific_gravity": "1.015",
                "ph": "6.0",
                "nitrite": "10",
            },
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "resulted"
    assert response.json()["overall"] == "negative"
    response = clin.post(
        f"/api/screening/tests/{test['id']}/review/", {"comment": "Consistent with recovery."}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "reviewed"
    assert body["versions"][0]["comment"] == "Consistent with recovery."


def test_review_comment_is_encrypted_at_rest(clin: Any, new_test: Any) -> None:
    from django.db import connection

    test = new_test()
    clin.post(
        f"/api/screening/tests/{test['id']}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": "Secret words here"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT comment FROM screening_testversion")
        stored = cursor.fetchone()[0]
    assert "Secret words" not in stored


def test_reviewed_test_cannot_get_new_results_only_amendments(clin: Any, new_test: Any) -> None:
    test = new_test()
    clin.post(
        f"/api/screening/tests/{test['id']}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": ""})
    response = clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {"results": [{"analyte": "THC", "result": "positive"}]},
        format="json",
    )
    assert response.status_code == 409
    # Results are encrypted at rest: compared in Python, not in the database.
    stored = AnalyteResult.objects.filter(test_id=test["id"])
    assert [r for r in stored if r.result == "positive"] == []


def test_amendment_keeps_every_version_readable(
    clin: Any, new_test: Any, cast: Any, client_for: Any
) -> None:
    test = new_test()
    clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {"results": [{"analyte": "COC", "result": "positive"}]},
        format="json",
    )
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": "First read."})
    response = clin.post(
        f"/api/screening/tests/{test['id']}/amend/",
        {
            "reason": "Lab corrected the report: confirmation negative.",
            "results": [{"analyte": "COC", "result": "negative", "method": "confirmation"}],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["version"] == 2
    assert body["overall"] == "negative"
    assert [v["number"] for v in body["versions"]] == [1, 2]
    assert body["versions"][0]["overall"] == "positive"
    assert body["versions"][0]["comment"] == "First read."
    assert body["versions"][1]["amendment_reason"].startswith("Lab corrected")
    # The first version's rows are untouched.
    assert AnalyteResult.objects.get(test_id=test["id"], version=1).result == "positive"
    # The patient reads both versions too, without staff comments.
    mine = client_for(cast.patient).get(f"/api/screening/tests/{test['id']}/").json()
    assert [v["overall"] for v in mine["versions"]] == ["positive", "negative"]
    assert all("comment" not in v and "amendment_reason" not in v for v in mine["versions"])


def test_amendment_without_reason_is_refused_and_changes_nothing(clin: Any, new_test: Any) -> None:
    test = new_test()
    clin.post(
        f"/api/screening/tests/{test['id']}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": ""})
    response = clin.post(f"/api/screening/tests/{test['id']}/amend/", {"reason": ""}, format="json")
    assert response.status_code == 400
    assert "reason" in response.json()["fields"]
    assert DrugTest.objects.get(pk=test["id"]).version == 1


def test_unknown_analyte_is_a_field_error_and_records_nothing(clin: Any, new_test: Any) -> None:
    test = new_test()
    response = clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {"results": [{"analyte": "XYZ", "result": "positive"}]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"] == {"results.0.analyte": ["Unknown analyte code."]}
    assert not AnalyteResult.objects.filter(test_id=test["id"]).exists()


def test_collected_at_in_the_future_is_refused(clin: Any, cast: Any) -> None:
    response = clin.post(
        "/api/screening/tests/",
        {
            "patient": cast.patient.pk,
            "collected_at": (timezone.now() + dt.timedelta(hours=3)).isoformat(),
            "specimen": "urine",
            "observed": False,
            "reason": "intake",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "collected_at" in response.json()["fields"]
    assert not DrugTest.objects.exists()


def test_review_before_results_is_refused(clin: Any, new_test: Any) -> None:
    test = new_test()
    response = clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": "x"})
    assert response.status_code == 400
    assert "test" in response.json()["fields"]
    assert DrugTest.objects.get(pk=test["id"]).status == "collected"


def test_result_for_a_test_not_yet_collected_is_refused(clin: Any, cast: Any) -> None:
    draw = clin.post(
        "/api/screening/draws/",
        {"cohort": cast.cohort.pk, "date": timezone.localdate().isoformat(), "rate": "1"},
        format="json",
    ).json()
    order = DrugTest.objects.get(draw_id=draw["id"])
    response = clin.post(
        f"/api/screening/tests/{order.pk}/results/",
        {"results": [{"analyte": "THC", "result": "negative"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "test" in response.json()["fields"]
    assert not AnalyteResult.objects.exists()


def test_confirmation_can_be_requested_and_then_recorded(clin: Any, new_test: Any) -> None:
    test = new_test()
    first = clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {"results": [{"analyte": "AMP", "result": "positive", "confirmation_requested": True}]},
        format="json",
    ).json()
    assert first["results"][0]["confirmation_requested"] is True
    assert first["overall"] == "positive"
    second = clin.post(
        f"/api/screening/tests/{test['id']}/results/",
        {
            "results": [
                {"analyte": "AMP", "result": "negative", "method": "confirmation", "value": "120"}
            ]
        },
        format="json",
    ).json()
    assert second["overall"] == "negative"
    assert {(r["analyte"], r["method"]) for r in second["results"]} == {
        ("AMP", "screen"),
        ("AMP", "confirmation"),
    }


# --- Access tiers -----------------------------------------------------------------------


RESULT_ENDPOINTS = [
    ("get", "/api/screening/tests/{id}/", None),
    ("get", "/api/screening/tests/{id}/fhir/", None),
    ("post", "/api/screening/tests/{id}/results/", {"results": NEGATIVE_PANEL}),
    ("post", "/api/screening/tests/{id}/review/", {"comment": "x"}),
    ("post", "/api/screening/tests/{id}/amend/", {"reason": "x"}),
    ("post", "/api/screening/tests/{id}/collect/", {"refused": True}),
]


@pytest.mark.parametrize(
    "role", ["facilitator", "admin", "auditor", "outsider", "other_clinician", "other_patient"]
)
@pytest.mark.parametrize(("method", "url", "body"), RESULT_ENDPOINTS)
def test_only_the_care_team_clinician_and_the_patient_reach_a_test(
    role: str, method: str, url: str, body: Any, cast: Any, client_for: Any, new_test: Any
) -> None:
    test = new_test()
    client = client_for(getattr(cast, role))
    response = getattr(client, method)(url.format(id=test["id"]), body, format="json")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    denied = events(action="denied", object_type="drug_test", object_id=str(test["id"]))
    assert denied and denied[-1].patient_id == cast.patient.pk
    assert denied[-1].actor_id == getattr(cast, role).pk


@pytest.mark.parametrize("role", ["facilitator", "admin", "auditor"])
def test_roles_without_results_access_cannot_list_tests(
    role: str, cast: Any, client_for: Any, new_test: Any
) -> None:
    new_test()
    client = client_for(getattr(cast, role))
    assert client.get("/api/screening/tests/").status_code == 403
    response = client.get(f"/api/screening/tests/?patient={cast.patient.pk}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert events(action="denied", object_type="drug_test")[-1].patient_id == cast.patient.pk


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "outsider"])
def test_only_a_care_team_clinician_records_a_test(role: str, cast: Any, client_for: Any) -> None:
    response = client_for(getattr(cast, role)).post(
        "/api/screening/tests/",
        {
            "patient": cast.patient.pk,
            "collected_at": timezone.now().isoformat(),
            "specimen": "urine",
            "observed": False,
            "reason": "intake",
        },
        format="json",
    )
    assert response.status_code == 404
    assert not DrugTest.objects.exists()


def test_patient_reads_own_test_without_review_comments(
    clin: Any, new_test: Any, cast: Any, client_for: Any
) -> None:
    test = new_test()
    clin.post(
        f"/api/screening/tests/{test['id']}/results/", {"results": NEGATIVE_PANEL}, format="json"
    )
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": "Staff only remark"})
    patient = client_for(cast.patient)
    response = patient.get(f"/api/screening/tests/{test['id']}/")
    assert response.status_code == 200
    assert "Staff only remark" not in response.content.decode()
    records = patient.get("/api/me/records/screening/")
    assert records.status_code == 200
    assert [t["id"] for t in records.json()["results"]] == [test["id"]]
    assert "Staff only remark" not in records.content.decode()


def test_patient_cannot_read_another_patients_result(
    cast: Any, client_for: Any, new_test: Any
) -> None:
    test = new_test()
    other = client_for(cast.other_patient)
    assert other.get(f"/api/screening/tests/{test['id']}/").status_code == 404
    assert other.get("/api/me/records/screening/").json()["results"] == []
    denied = events(action="denied", object_id=str(test["id"]))
    assert denied[-1].patient_id == cast.patient.pk


@pytest.mark.parametrize("role", ["facilitator", "clinician", "admin", "auditor"])
def test_me_records_are_for_patients_only(role: str, cast: Any, client_for: Any) -> None:
    client = client_for(getattr(cast, role))
    assert client.get("/api/me/records/screening/").status_code == 403
    assert client.get("/api/me/records/disclosures/").status_code == 403


# --- Audit --------------------------------------------------------------------------------


def test_a_list_page_is_audited_once_per_patient_with_the_ids_read(
    clin: Any, new_test: Any, cast: Any
) -> None:
    ids = {new_test()["id"] for _ in range(3)}
    before = len(events(action="read", object_type="drug_test"))
    response = clin.get("/api/screening/tests/")
    assert {t["id"] for t in response.json()["results"]} == ids
    reads = events(action="read", object_type="drug_test")[before:]
    assert len(reads) == 1
    assert reads[0].patient_id == cast.patient.pk
    assert reads[0].actor_id == cast.clinician.pk
    assert reads[0].detail == {"ids": sorted(ids)}


def test_detail_read_is_audited(clin: Any, new_test: Any, cast: Any) -> None:
    test = new_test()
    clin.get(f"/api/screening/tests/{test['id']}/")
    last = events(action="read", object_type="drug_test")[-1]
    assert last.object_id == str(test["id"])
    assert last.patient_id == cast.patient.pk
    assert last.detail == {}


def test_list_reads_stay_within_a_few_queries_per_page(
    clin: Any, new_test: Any, django_assert_max_num_queries: Any
) -> None:
    for _ in range(5):
        new_test()
    # Audit writes are per row (three statements each); the reads themselves are batched.
    with django_assert_max_num_queries(60):
        clin.get("/api/screening/tests/")
