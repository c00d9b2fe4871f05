"""Disclosures under a Part 2 consent (42 CFR 2.31-2.33): the package for the
recipient, recorded with the notice against redisclosure."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from groups.models import Enrollment
from screening import fhir
from screening.consents.selectors import consent_for_user, consent_state
from screening.consents.services import consent_scope
from screening.disclosures.selectors import (
    DisclosureWindow,
    disclosable_enrollments,
    disclosable_tests,
    discloser_cohort_ids,
    is_discloser_staff,
)
from screening.drug_tests.selectors import medications_by_patient, test_states
from screening.models import (
    Consent,
    Disclosure,
    InformationClass,
)
from screening.part2 import NOTICE_VERSION, notice_block
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core import contributions
from vioip.core.errors import Conflict


class DisclosureRefused(Conflict):
    default_detail = "The consent does not allow this disclosure."
    default_code = "disclosure_refused"


def _refuse(*, actor: User, consent: Consent, code: str, detail: str) -> DisclosureRefused:
    audit.record(
        action=Action.DISCLOSURE_REFUSED,
        actor=actor,
        outcome=Outcome.DENIED,
        object_type="consent",
        object_id=consent.pk,
        patient=consent.patient_id,
        detail={"reason": code},
    )
    return DisclosureRefused(detail=detail, code=code)


def _screening_section(
    *, patient_id: Any, window: DisclosureWindow
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Counter[str]]:
    tests, left_out = disclosable_tests(patient_id=patient_id, window=window)
    meds = medications_by_patient(patient_ids=[patient_id])
    section: list[dict[str, Any]] = []
    observations: list[dict[str, Any]] = []
    for test in tests:
        state = test_states(test, meds.get(patient_id, []))[-1]
        section.append(
            {
                "test": test.pk,
                "collected_at": test.collected_at.isoformat() if test.collected_at else None,
                "specimen": test.specimen,
                "reason": test.reason,
                "observed": test.observed,
                "status": test.status,
                "version": state.number,
                "overall": state.overall,
                "validity_flags": state.flags,
                "results": [
                    {
                        "analyte": r.analyte,
                        "method": r.method,
                        "result": r.result,
                        "value": str(r.value) if r.value is not None else None,
                    }
                    for r in state.results
                ],
            }
        )
        observations.extend(
            fhir.observation(test, r, amended=state.number > 1) for r in state.results
        )
    return section, observations, left_out


def _enrollment_row(e: Enrollment) -> dict[str, Any]:
    return {
        "program": e.cohort.name,
        "track": e.cohort.track,
        "start_date": e.start_date.isoformat(),
        "status": e.status,
        "discharged_on": e.discharged_on.isoformat() if e.discharged_on else None,
        "discharge_reason": e.discharge_reason or None,
    }


def _attendance_by_enrollment(
    enrollments: list[Enrollment], *, patient_id: Any, window: DisclosureWindow
) -> list[tuple[Enrollment, list[dict[str, Any]] | None]]:
    """Per enrollment of the discloser's, the patient's expected sessions inside the window
    (contributed by the attendance app through ``vioip.core.contributions``): date, kind,
    status, minutes. No titles, no other patients. None per enrollment when no installed
    app contributes attendance: unknown, which is not the same as none attended."""
    provider = contributions.patient_attendance.provider()
    if provider is None:
        return [(e, None) for e in enrollments]
    return [
        (
            enrollment,
            [
                {
                    "date": entry.date.isoformat(),
                    "kind": entry.kind,
                    "status": entry.status,
                    "minutes": entry.minutes,
                }
                for entry in provider(
                    cohort_id=enrollment.cohort_id,
                    patient_id=patient_id,
                    first_day=window.first_day,
                    last_day=window.last_day,
                )
            ],
        )
        for enrollment in enrollments
    ]


def _treatment_summary(
    enrollment: Enrollment, entries: list[dict[str, Any]] | None
) -> dict[str, Any]:
    statuses = [e["status"] for e in entries or []]
    minutes = sum(e["minutes"] for e in entries or [])
    known = entries is not None
    return {
        "program": enrollment.cohort.name,
        "track": enrollment.cohort.track,
        "start_date": enrollment.start_date.isoformat(),
        "status": enrollment.status,
        "discharged_on": enrollment.discharged_on.isoformat() if enrollment.discharged_on else None,
        "discharge_reason": enrollment.discharge_reason or None,
        "aftercare_level": enrollment.aftercare_level or None,
        "sessions_attended": statuses.count("attended") if known else None,
        "sessions_missed": statuses.count("absent") if known else None,
        "sessions_excused": statuses.count("excused") if known else None,
        "hours_attended": round(minutes / 60, 2) if known else None,
    }


def disclosure_create(
    *,
    actor: User,
    consent_id: Any,
    period_from: dt.date,
    period_to: dt.date,
    information: list[str] | None = None,
) -> Disclosure:
    """Produce and record the package for the consent's recipient (42 CFR 2.31-2.33).

    Only staff of the discloser the consent names disclose: a clinician of that cohort in
    which the patient is actively enrolled (a clinician of the patient's other cohorts is
    refused, audited). The package holds only the discloser's records, of the information
    classes asked and covered, inside the period asked and the consent's dates (from its
    signing to its expiry), and only final results; it counts what was left out and why,
    and carries the notice against redisclosure at the top. Refusals are audited."""
    consent = consent_for_user(user=actor, consent_id=consent_id, attempted="disclose")
    if period_to < period_from:
        raise ValidationError({"to": ["The period ends before it starts."]})
    cohort_ids = discloser_cohort_ids(consent)
    if not cohort_ids:
        # Fail closed: an older consent whose discloser could not be resolved to a cohort.
        raise _refuse(
            actor=actor,
            consent=consent,
            code="discloser_unknown",
            detail="The consent's discloser names no program of the patient's.",
        )
    if not is_discloser_staff(user=actor, consent=consent, cohort_ids=cohort_ids):
        raise _refuse(
            actor=actor,
            consent=consent,
            code="not_discloser",
            detail="Only staff of the program the consent names may disclose under it.",
        )
    state = consent_state(consent)
    if state != "active":
        raise _refuse(
            actor=actor,
            consent=consent,
            code=f"consent_{state}",
            detail=f"The consent is {state}: nothing may be disclosed under it.",
        )
    if not (consent.recipient_name and consent.purpose and consent.information):
        raise _refuse(
            actor=actor,
            consent=consent,
            code="consent_incomplete",
            detail="The consent lacks a required element (recipient, purpose or information).",
        )
    asked = sorted(set(information or consent.information))
    if any(i not in InformationClass.values for i in asked):
        raise ValidationError({"information": ["Unknown information class."]})
    not_covered = [i for i in asked if i not in consent.information]
    if not_covered:
        raise _refuse(
            actor=actor,
            consent=consent,
            code="not_covered",
            detail="The consent does not cover: " + ", ".join(not_covered) + ".",
        )
    if consent.expires_on is not None and period_to > consent.expires_on:
        raise _refuse(
            actor=actor,
            consent=consent,
            code="not_covered",
            detail="The period asked runs past the consent's expiry.",
        )
    window = DisclosureWindow(
        cohort_ids=frozenset(cohort_ids),
        period_from=period_from,
        period_to=period_to,
        consent_from=timezone.localdate(consent.signed_at),
        consent_to=consent.expires_on,
    )
    with transaction.atomic():
        return _disclosure_write(
            actor=actor, consent=consent, state=state, asked=asked, window=window
        )


def _left_out_rows(kind: str, counts: Counter[str]) -> list[dict[str, Any]]:
    return [{"kind": kind, "count": n, "reason": r} for r, n in sorted(counts.items())]


def _disclosure_write(
    *,
    actor: User,
    consent: Consent,
    state: str,
    asked: list[str],
    window: DisclosureWindow,
) -> Disclosure:
    patient = consent.patient
    sections: dict[str, Any] = {}
    # What stayed out and why: kinds, counts and codes, never a record's content.
    left_out: list[dict[str, Any]] = [
        {
            "kind": c,
            "count": None,
            "reason": "not_requested" if c in consent.information else "not_consented",
        }
        for c in InformationClass.values
        if c not in asked
    ]
    fhir_entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:consent-{consent.pk}",
            "resource": fhir.consent_resource(consent, state=state),
        }
    ]
    if InformationClass.SCREENING_RESULTS in asked:
        section, observations, tests_left_out = _screening_section(
            patient_id=patient.pk, window=window
        )
        sections["screening_results"] = section
        left_out.extend(_left_out_rows("drug_test", tests_left_out))
        fhir_entries.extend({"fullUrl": f"urn:uuid:{o['id']}", "resource": o} for o in observations)
    enrollment_classes = {
        InformationClass.ENROLLMENT_STATUS,
        InformationClass.ATTENDANCE,
        InformationClass.TREATMENT_SUMMARY,
    }
    if enrollment_classes & set(asked):
        enrollments, enrollments_left_out = disclosable_enrollments(
            patient_id=patient.pk, window=window
        )
        left_out.extend(_left_out_rows("enrollment", enrollments_left_out))
        if InformationClass.ENROLLMENT_STATUS in asked:
            sections["enrollment_status"] = [_enrollment_row(e) for e in enrollments]
        if InformationClass.ATTENDANCE in asked or InformationClass.TREATMENT_SUMMARY in asked:
            attendance = _attendance_by_enrollment(
                enrollments, patient_id=patient.pk, window=window
            )
            if InformationClass.ATTENDANCE in asked:
                sections["attendance"] = [
                    {"program": e.cohort.name, "sessions": entries} for e, entries in attendance
                ]
            if InformationClass.TREATMENT_SUMMARY in asked:
                sections["treatment_summary"] = [
                    _treatment_summary(e, entries) for e, entries in attendance
                ]
    now = timezone.now()
    package: dict[str, Any] = {
        "notice": notice_block(),
        "consent_scope": consent_scope(consent),
        "patient": {"id": patient.pk, "name": patient.get_full_name()},
        "period": {"from": window.period_from.isoformat(), "to": window.period_to.isoformat()},
        # The period asked, narrowed to the consent's dates: what the records may span.
        "records_period": {
            "from": window.first_day.isoformat(),
            "to": window.last_day.isoformat(),
        },
        "information": asked,
        "disclosed_at": now.isoformat(),
        "disclosed_by": actor.get_full_name() or actor.username,
        "sections": sections,
        "left_out": left_out,
        "fhir": {
            "resourceType": "Bundle",
            "type": "collection",
            "meta": {"security": fhir._meta()["security"]},
            "timestamp": now.isoformat(),
            "entry": fhir_entries,
        },
    }
    disclosure = Disclosure.objects.create(
        consent=consent,
        patient=patient,
        disclosed_by=actor,
        disclosed_at=now,
        recipient=consent_scope(consent)["recipient"],
        information=asked,
        period_from=window.period_from,
        period_to=window.period_to,
        notice_version=NOTICE_VERSION,
        package=json.dumps(package),
    )
    package["disclosure"] = disclosure.pk
    audit.record(
        action=Action.DISCLOSE,
        actor=actor,
        object_type="disclosure",
        object_id=disclosure.pk,
        patient=patient.pk,
        detail={"consent": consent.pk, "information": asked},
    )
    return disclosure


def disclosure_package(disclosure: Disclosure) -> dict[str, Any]:
    package: dict[str, Any] = json.loads(disclosure.package)
    package["disclosure"] = disclosure.pk
    return package
