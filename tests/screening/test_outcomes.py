"""Overall outcomes are computed from results, validity and documented medications."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.screening.conftest import NEGATIVE_PANEL

pytestmark = pytest.mark.django_db

NORMAL = {"creatinine": "85", "specific_gravity": "1.0150", "ph": "6.2", "nitrite": "20"}


@pytest.mark.parametrize(
    ("validity", "flags", "overall"),
    [
        (NORMAL, [], "negative"),
        # dilute: creatinine >= 2 and < 20, SG > 1.0010 and < 1.0030
        (
            {**NORMAL, "creatinine": "15", "specific_gravity": "1.0020"},
            ["dilute"],
            "negative_dilute",
        ),
        (
            {**NORMAL, "creatinine": "2", "specific_gravity": "1.0011"},
            ["dilute"],
            "negative_dilute",
        ),
        # creatinine low but SG normal: not dilute
        ({**NORMAL, "creatinine": "15", "specific_gravity": "1.0030"}, [], "negative"),
        # substituted: creatinine < 2 and SG <= 1.0010 or >= 1.0200
        ({**NORMAL, "creatinine": "1.5", "specific_gravity": "1.0010"}, ["substituted"], "refused"),
        ({**NORMAL, "creatinine": "1.9", "specific_gravity": "1.0200"}, ["substituted"], "refused"),
        # adulterated: nitrite >= 500, pH < 4 or >= 11
        ({**NORMAL, "nitrite": "500"}, ["adulterated"], "refused"),
        ({**NORMAL, "ph": "3.9"}, ["adulterated"], "refused"),
        ({**NORMAL, "ph": "11"}, ["adulterated"], "refused"),
        # invalid: inconsistent creatinine/SG, pH 4-4.5 or 9-11, nitrite 200-500
        ({**NORMAL, "creatinine": "1.5", "specific_gravity": "1.0150"}, ["invalid"], "invalid"),
        ({**NORMAL, "creatinine": "25", "specific_gravity": "1.0005"}, ["invalid"], "invalid"),
        ({**NORMAL, "ph": "4.2"}, ["invalid"], "invalid"),
        ({**NORMAL, "ph": "9.0"}, ["invalid"], "invalid"),
        ({**NORMAL, "ph": "10.99"}, ["invalid"], "invalid"),
        ({**NORMAL, "nitrite": "200"}, ["invalid"], "invalid"),
        ({**NORMAL, "ph": "4.5"}, [], "negative"),
        ({**NORMAL, "ph": "8.99"}, [], "negative"),
        ({**NORMAL, "nitrite": "199.99"}, [], "negative"),
    ],
)
def test_validity_rules_decide_the_outcome_of_a_negative_panel(
    resulted_test: Any, validity: dict[str, str], flags: list[str], overall: str
) -> None:
    test = resulted_test(NEGATIVE_PANEL, validity)
    assert test["validity"]["flags"] == flags
    assert test["overall"] == overall


def test_dilute_positive_stays_positive(resulted_test: Any) -> None:
    test = resulted_test(
        [{"analyte": "COC", "result": "positive"}],
        {**NORMAL, "creatinine": "10", "specific_gravity": "1.0020"},
    )
    assert test["overall"] == "positive"


def test_an_invalid_analyte_result_makes_the_test_invalid(resulted_test: Any) -> None:
    test = resulted_test([{"analyte": "THC", "result": "invalid"}])
    assert test["overall"] == "invalid"


def test_positive_explained_by_documented_medication_is_expected(
    clin: Any, cast: Any, resulted_test: Any
) -> None:
    response = clin.post(
        "/api/screening/medications/",
        {
            "patient": cast.patient.pk,
            "name": "buprenorphine",
            "start_date": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 201
    test = resulted_test([*NEGATIVE_PANEL, {"analyte": "BUP", "result": "positive"}])
    assert test["overall"] == "positive_expected"


def test_medication_does_not_explain_other_positives(
    clin: Any, cast: Any, resulted_test: Any
) -> None:
    clin.post(
        "/api/screening/medications/",
        {
            "patient": cast.patient.pk,
            "name": "methadone",
            "start_date": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
        },
        format="json",
    )
    test = resulted_test(
        [{"analyte": "MTD", "result": "positive"}, {"analyte": "FEN", "result": "positive"}]
    )
    assert test["overall"] == "positive"


def test_medication_ended_before_collection_does_not_explain(
    clin: Any, cast: Any, resulted_test: Any
) -> None:
    today = timezone.localdate()
    clin.post(
        "/api/screening/medications/",
        {
            "patient": cast.patient.pk,
            "name": "buprenorphine",
            "start_date": (today - dt.timedelta(days=60)).isoformat(),
            "end_date": (today - dt.timedelta(days=10)).isoformat(),
        },
        format="json",
    )
    test = resulted_test([{"analyte": "BUP", "result": "positive"}])
    assert test["overall"] == "positive"


def test_positive_without_medication_is_positive(resulted_test: Any) -> None:
    assert resulted_test([{"analyte": "BUP", "result": "positive"}])["overall"] == "positive"


@pytest.mark.parametrize("role", ["facilitator", "patient", "other_clinician", "admin"])
def test_only_a_care_team_clinician_documents_medications(
    role: str, cast: Any, client_for: Any
) -> None:
    client = client_for(getattr(cast, role))
    body = {
        "patient": cast.patient.pk,
        "name": "buprenorphine",
        "start_date": timezone.localdate().isoformat(),
    }
    assert client.post("/api/screening/medications/", body, format="json").status_code in (
        403,
        404,
    )
    assert client.get(f"/api/screening/medications/?patient={cast.patient.pk}").status_code in (
        403,
        404,
    )


def test_analyte_table_ships_the_required_codes_with_cutoffs(clin: Any) -> None:
    body = clin.get("/api/screening/analytes/").json()
    codes = {a["code"]: a for a in body["analytes"]}
    required = {
        "AMP",
        "mAMP",
        "MDMA",
        "BAR",
        "BZO",
        "BUP",
        "COC",
        "THC",
        "MTD",
        "OPI",
        "MOP",
        "6-MAM",
        "OXY",
        "FEN",
        "PCP",
        "ETG",
        "ALC",
    }
    assert required <= codes.keys()
    assert codes["THC"]["cutoffs"]["urine"]["screen"] == 50
    assert codes["THC"]["cutoffs"]["urine"]["confirmation"] == 15
    assert codes["COC"]["cutoffs"]["urine"]["screen"] == 150
    assert codes["AMP"]["cutoffs"]["oral_fluid"]["screen"] == 50
    assert codes["THC"]["loinc"]["urine"]["code"] == "18282-4"
