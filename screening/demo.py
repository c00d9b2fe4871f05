"""Demo screening records for the substance-use cohort: tests, a draw, a consent and one
disclosure. Idempotent: every step looks for what it made before."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.utils import timezone

from groups.models import CareTeamMember, Enrollment, EnrollmentStatus
from screening.consents.services import consent_create
from screening.disclosures.services import disclosure_create
from screening.draws.services import draw_create
from screening.drug_tests.services import (
    medication_record,
    test_create,
    test_record_results,
    test_review,
)
from screening.models import Consent, Disclosure, Draw, DrugTest

DEMO_PREFIX = "DEMO-"

# (analyte results, validity) for the first patients of the cohort.
DEMO_TESTS: list[tuple[list[dict[str, Any]], dict[str, Decimal]]] = [
    (
        [{"analyte": a, "result": "negative"} for a in ("AMP", "COC", "THC", "OPI", "FEN")],
        {"creatinine": Decimal("92"), "specific_gravity": Decimal("1.018"), "ph": Decimal("6.1")},
    ),
    (
        [
            {"analyte": "BUP", "result": "positive", "value": Decimal("48")},
            {"analyte": "FEN", "result": "negative"},
            {"analyte": "OPI", "result": "negative"},
        ],
        {"creatinine": Decimal("110"), "specific_gravity": Decimal("1.021")},
    ),
    (
        [{"analyte": a, "result": "negative"} for a in ("AMP", "COC", "THC")],
        {"creatinine": Decimal("14"), "specific_gravity": Decimal("1.002")},
    ),
]


def seed(context: dict[str, Any]) -> None:
    notes = context.setdefault("notes", [])
    cohort = (context.get("cohorts") or {}).get("sud")
    if cohort is None:
        notes.append("Screening demo skipped: no substance-use cohort in the demo.")
        return
    member = (
        CareTeamMember.objects.filter(cohort=cohort, role="clinician")
        .select_related("user")
        .first()
    )
    if member is None:
        notes.append("Screening demo skipped: the substance-use cohort has no clinician.")
        return
    clinician = member.user
    patients = [
        e.patient
        for e in Enrollment.objects.filter(cohort=cohort, status=EnrollmentStatus.ACTIVE)
        .select_related("patient")
        .order_by("id")
    ]
    if not patients:
        notes.append("Screening demo skipped: the substance-use cohort has no patients.")
        return
    today = timezone.localdate()

    if not DrugTest.objects.filter(
        cohort=cohort, chain_of_custody_id__startswith=DEMO_PREFIX
    ).exists():
        for index, (patient, (results, validity)) in enumerate(
            zip(patients, DEMO_TESTS, strict=False)
        ):
            if any(r["analyte"] == "BUP" for r in results):
                medication_record(
                    actor=clinician,
                    patient_id=patient.pk,
                    name="buprenorphine",
                    start_date=today - dt.timedelta(days=60),
                )
            test = test_create(
                actor=clinician,
                patient_id=patient.pk,
                collected_at=timezone.now() - dt.timedelta(days=3, hours=index),
                specimen="urine",
                observed=True,
                reason="scheduled",
                chain_of_custody_id=f"{DEMO_PREFIX}{index + 1:04d}",
            )
            test_record_results(
                actor=clinician, drug_test_id=test.pk, results=results, validity=validity
            )
            if index == 0:
                test_review(
                    actor=clinician,
                    drug_test_id=test.pk,
                    comment="Negative panel; discussed in session.",
                )
        notes.append(f"Screening: {min(len(patients), len(DEMO_TESTS))} demo drug tests.")

    if not Draw.objects.filter(cohort=cohort).exists():
        draw = draw_create(actor=clinician, cohort_id=cohort.pk, date=today, rate=Decimal("0.25"))
        notes.append(f"Screening: random draw {draw.pk} selected {len(draw.selected)} patient(s).")

    patient = patients[0]
    consent = Consent.objects.filter(patient=patient, recorded_by=clinician).first()
    if consent is None:
        consent = consent_create(
            actor=clinician,
            patient_id=patient.pk,
            information=["screening_results", "enrollment_status"],
            recipient={
                "name": "Officer Dana Reyes",
                "organization": "County Probation Department",
                "address": "1 Court Plaza, Springfield",
            },
            purpose="Compliance with conditions of probation",
            expires_on=today + dt.timedelta(days=180),
            expires_at_end_of_treatment=False,
            signed_at=timezone.now() - dt.timedelta(days=7),
            signature_method="electronic",
        )
    if not Disclosure.objects.filter(consent=consent).exists():
        disclosure_create(
            actor=clinician,
            consent_id=consent.pk,
            period_from=today - dt.timedelta(days=30),
            period_to=today,
        )
        notes.append("Screening: one Part 2 disclosure to the probation department.")
