"""FHIR R4 output: test results as Observations in a Bundle, consents as Consent.

Every resource carries the Part 2 security labels in ``meta.security``. Results are
LOINC-coded where the shipped table has a code for the specimen, and carry the project's
own analyte code as well.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from screening.analytes import analyte_get
from screening.drug_tests.selectors import VersionState
from screening.models import AnalyteResult, Consent, DrugTest, TestStatus
from screening.part2 import PART2_SECURITY_LABELS

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ANALYTE_SYSTEM = "urn:vioip:screening:analyte"
INFORMATION_SYSTEM = "urn:vioip:screening:information-class"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"

# LOINC answer codes for presence results.
ANSWERS = {
    "positive": {"system": LOINC, "code": "LA6576-8", "display": "Positive"},
    "negative": {"system": LOINC, "code": "LA6577-6", "display": "Negative"},
}
ABSENT = {
    "invalid": {"system": DATA_ABSENT, "code": "error", "display": "Error"},
    "not_tested": {"system": DATA_ABSENT, "code": "not-performed", "display": "Not Performed"},
}


def _meta() -> dict[str, Any]:
    return {"security": [dict(label) for label in PART2_SECURITY_LABELS]}


def _instant(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _patient_reference(patient: Any) -> dict[str, str]:
    return {
        "reference": f"Patient/{patient.pk}",
        "display": patient.get_full_name() or str(patient.pk),
    }


def observation(test: DrugTest, result: AnalyteResult, *, amended: bool) -> dict[str, Any]:
    analyte = analyte_get(result.analyte)
    codings: list[dict[str, str]] = []
    if analyte is not None:
        loinc = analyte.loinc_for(test.specimen)
        if loinc is not None:
            codings.append({"system": LOINC, "code": loinc[0], "display": loinc[1]})
    codings.append(
        {
            "system": ANALYTE_SYSTEM,
            "code": result.analyte,
            "display": analyte.name if analyte else result.analyte,
        }
    )
    if test.status == TestStatus.REVIEWED:
        status = "amended" if amended else "final"
    else:
        status = "preliminary"
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"drug-test-{test.pk}-v{result.version}-{result.analyte}-{result.method}",
        "meta": _meta(),
        "status": status,
        "category": [
            {
                "coding": [
                    {"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}
                ]
            }
        ],
        "code": {"coding": codings, "text": analyte.name if analyte else result.analyte},
        "subject": _patient_reference(test.patient),
        "effectiveDateTime": _instant(test.collected_at),
        "issued": _instant(result.recorded_at),
        "method": {"text": result.method},
        "specimen": {"display": test.specimen},
    }
    if result.result in ANSWERS:
        resource["valueCodeableConcept"] = {
            "coding": [ANSWERS[result.result]],
            "text": result.result,
        }
    else:
        resource["dataAbsentReason"] = {"coding": [ABSENT[result.result]], "text": result.result}
    if result.value is not None:
        unit = "ng/mL"
        if analyte is not None and test.specimen in analyte.cutoffs:
            unit = analyte.cutoffs[test.specimen].unit
        resource["component"] = [
            {
                "code": {"coding": codings[:1], "text": "measured concentration"},
                "valueQuantity": {
                    "value": float(result.value),
                    "unit": unit,
                    "system": UCUM,
                    "code": unit.replace(" ", ""),
                },
            }
        ]
    return resource


def test_bundle(test: DrugTest, state: VersionState) -> dict[str, Any]:
    """A collection Bundle of the current version's Observations."""
    entries = [
        {
            "fullUrl": f"urn:uuid:drug-test-{test.pk}-v{r.version}-{r.analyte}-{r.method}",
            "resource": observation(test, r, amended=state.number > 1),
        }
        for r in state.results
    ]
    return {
        "resourceType": "Bundle",
        "id": f"drug-test-{test.pk}-v{state.number}",
        "meta": _meta(),
        "type": "collection",
        "timestamp": timezone.now().isoformat(),
        "entry": entries,
    }


def consent_resource(consent: Consent, *, state: str) -> dict[str, Any]:
    end = consent.expires_on.isoformat() if consent.expires_on else None
    provision: dict[str, Any] = {
        "type": "permit",
        "actor": [
            {
                "role": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "IRCP",
                            "display": "information recipient",
                        }
                    ]
                },
                "reference": {
                    "display": ", ".join(
                        p for p in (consent.recipient_name, consent.recipient_organization) if p
                    )
                },
            }
        ],
        "class": [{"system": INFORMATION_SYSTEM, "code": c} for c in consent.information],
    }
    if end:
        provision["period"] = {"start": consent.signed_at.date().isoformat(), "end": end}
    return {
        "resourceType": "Consent",
        "id": f"consent-{consent.pk}",
        "meta": _meta(),
        "status": "active" if state == "active" else "inactive",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": _patient_reference(consent.patient),
        "dateTime": consent.signed_at.isoformat(),
        "organization": [{"display": consent.discloser}],
        "policy": [
            {
                "authority": "https://www.ecfr.gov",
                "uri": "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2",
            }
        ],
        "provision": provision,
    }
