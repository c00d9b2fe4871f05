"""FHIR R4 shapes: resourceType, required elements, Part 2 labels in meta.security."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.screening.conftest import NEGATIVE_PANEL

pytestmark = pytest.mark.django_db

PART2 = {
    ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R"),
    ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "42CFRPart2"),
}
OBS_STATUSES = {
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
}


def assert_part2_labels(resource: dict[str, Any]) -> None:
    labels = {(s["system"], s["code"]) for s in resource["meta"]["security"]}
    assert labels >= PART2


def assert_observation(resource: dict[str, Any]) -> None:
    assert resource["resourceType"] == "Observation"
    # R4 Observation: status 1..1 (code), code 1..1 (CodeableConcept).
    assert resource["status"] in OBS_STATUSES
    assert resource["code"]["coding"]
    for coding in resource["code"]["coding"]:
        assert coding["system"] and coding["code"]
    assert resource["subject"]["reference"].startswith("Patient/")
    # obs-6: dataAbsentReason only when there is no value.
    assert ("valueCodeableConcept" in resource) != ("dataAbsentReason" in resource)
    dt.datetime.fromisoformat(resource["effectiveDateTime"])
    assert_part2_labels(resource)


def test_test_fhir_is_a_bundle_of_loinc_coded_observations(clin: Any, resulted_test: Any) -> None:
    test = resulted_test([*NEGATIVE_PANEL, {"analyte": "6-MAM", "result": "not_tested"}])
    response = clin.get(f"/api/screening/tests/{test['id']}/fhir/")
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"  # R4 Bundle.type 1..1
    assert_part2_labels(bundle)
    observations = [e["resource"] for e in bundle["entry"]]
    assert len(observations) == 6
    for entry in bundle["entry"]:
        assert entry["fullUrl"]
        assert_observation(entry["resource"])
    by_code = {o["code"]["text"]: o for o in observations}
    thc = next(o for o in observations if any(c["code"] == "THC" for c in o["code"]["coding"]))
    assert thc["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "18282-4",
        "display": "Cannabinoids [Presence] in Urine by Screen method",
    }
    assert thc["valueCodeableConcept"]["coding"][0]["code"] == "LA6577-6"
    assert thc["status"] == "preliminary"
    six_mam = next(
        o for o in by_code.values() if any(c["code"] == "6-MAM" for c in o["code"]["coding"])
    )
    # No LOINC code shipped for 6-MAM: only the project's own code.
    assert [c["system"] for c in six_mam["code"]["coding"]] == ["urn:vioip:screening:analyte"]
    assert six_mam["dataAbsentReason"]["coding"][0]["code"] == "not-performed"


def test_reviewed_and_amended_observations_carry_their_status(
    clin: Any, resulted_test: Any
) -> None:
    test = resulted_test([{"analyte": "COC", "result": "positive", "value": "310"}])
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": ""})
    final = clin.get(f"/api/screening/tests/{test['id']}/fhir/").json()
    observation = final["entry"][0]["resource"]
    assert observation["status"] == "final"
    assert observation["component"][0]["valueQuantity"]["value"] == 310.0
    clin.post(
        f"/api/screening/tests/{test['id']}/amend/",
        {"reason": "Transcription error", "results": [{"analyte": "COC", "result": "negative"}]},
        format="json",
    )
    amended = clin.get(f"/api/screening/tests/{test['id']}/fhir/").json()
    assert amended["entry"][0]["resource"]["status"] == "amended"


def test_consent_fhir_has_the_r4_required_elements(clin: Any, cast: Any) -> None:
    consent = clin.post(
        "/api/screening/consents/",
        {
            "patient": cast.patient.pk,
            "information": ["screening_results"],
            "recipient": {"name": "Judge Ortiz", "organization": "Drug Court"},
            "purpose": "Drug court supervision",
            "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
            "signed_at": timezone.now().isoformat(),
            "signature_method": "handwritten",
        },
        format="json",
    ).json()
    resource = clin.get(f"/api/screening/consents/{consent['id']}/fhir/").json()
    assert resource["resourceType"] == "Consent"
    # R4 Consent: status 1..1, scope 1..1, category 1..*, policy or policyRule (ppc-1).
    assert resource["status"] == "active"
    assert resource["scope"]["coding"][0]["code"] == "patient-privacy"
    assert resource["category"] and resource["category"][0]["coding"]
    assert resource["policy"] or resource["policyRule"]
    assert resource["patient"]["reference"] == f"Patient/{cast.patient.pk}"
    assert resource["provision"]["type"] == "permit"
    assert_part2_labels(resource)
    clin.post(f"/api/screening/consents/{consent['id']}/revoke/", {}, format="json")
    revoked = clin.get(f"/api/screening/consents/{consent['id']}/fhir/").json()
    assert revoked["status"] == "inactive"


def test_disclosure_package_carries_a_fhir_bundle_with_consent_and_observations(
    clin: Any, cast: Any, resulted_test: Any
) -> None:
    test = resulted_test(NEGATIVE_PANEL)
    # Only final (reviewed) results are disclosed, and only those dated from the signing.
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": ""}, format="json")
    consent = clin.post(
        "/api/screening/consents/",
        {
            "patient": cast.patient.pk,
            "information": ["screening_results"],
            "recipient": {"name": "Employer assistance program"},
            "purpose": "Return-to-work agreement",
            "expires_on": (timezone.localdate() + dt.timedelta(days=30)).isoformat(),
            "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
            "signature_method": "electronic",
        },
        format="json",
    ).json()
    today = timezone.localdate()
    package = clin.post(
        "/api/screening/disclosures/",
        {
            "consent": consent["id"],
            "from": (today - dt.timedelta(days=7)).isoformat(),
            "to": today.isoformat(),
        },
        format="json",
    ).json()
    bundle = package["fhir"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds[0] == "Consent"
    assert kinds.count("Observation") == len(NEGATIVE_PANEL)
    for entry in bundle["entry"]:
        assert_part2_labels(entry["resource"])
        if entry["resource"]["resourceType"] == "Observation":
            assert_observation(entry["resource"])
