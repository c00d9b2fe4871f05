"""Writes of screening records. Each passes its record's door, validates, writes and audits.

Only a clinician of the patient's care team writes screening records, through the doors of
``screening.selectors`` (which say which write needs an active enrollment and which may
finish documentation inside the window after discharge). A caller who may not gets the
door's ``NotVisible``: the standard 404 and an audited denial, like a reader would.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from collections import Counter
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from groups.models import Enrollment
from groups.selectors import patients_of_cohort
from screening import fhir
from screening.analytes import ANALYTES
from screening.models import (
    AnalyteResult,
    Consent,
    ConsentRevocation,
    Disclosure,
    DocumentedMedication,
    Draw,
    DrugTest,
    InformationClass,
    Method,
    ResultValue,
    TestStatus,
    TestVersion,
    ValidityCheck,
)
from screening.part2 import NOTICE_VERSION, notice_block
from screening.selectors import (
    DisclosureWindow,
    care_cohort_for,
    consent_for_user,
    consent_state,
    disclosable_enrollments,
    disclosable_tests,
    discloser_cohort_ids,
    draw_cohort_for_user,
    drug_test_for_user,
    is_discloser_staff,
    medications_by_patient,
    patient_for_user,
    test_states,
)
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core import contributions
from vioip.core.errors import Conflict

# The draw's generator: the OS's cryptographically secure source, so nobody (staff included)
# can predict or reproduce who is selected.
_rng = secrets.SystemRandom()
GENERATOR_NAME = "secrets.SystemRandom"

# A collection time a little ahead of the server clock is device skew, not the future.
CLOCK_SKEW = dt.timedelta(minutes=2)


# --- Drug tests ---------------------------------------------------------------------------


def test_create(
    *,
    actor: User,
    patient_id: Any,
    collected_at: dt.datetime,
    specimen: str,
    observed: bool,
    reason: str,
    chain_of_custody_id: str = "",
) -> DrugTest:
    patient_for_user(user=actor, patient_id=patient_id, attempted="create", object_type="drug_test")
    if collected_at > timezone.now() + CLOCK_SKEW:
        raise ValidationError({"collected_at": ["Collection time cannot be in the future."]})
    with transaction.atomic():
        return _test_create(
            actor=actor,
            patient_id=patient_id,
            collected_at=collected_at,
            specimen=specimen,
            observed=observed,
            reason=reason,
            chain_of_custody_id=chain_of_custody_id,
        )


def _test_create(
    *,
    actor: User,
    patient_id: Any,
    collected_at: dt.datetime,
    specimen: str,
    observed: bool,
    reason: str,
    chain_of_custody_id: str,
) -> DrugTest:
    test = DrugTest.objects.create(
        patient_id=patient_id,
        cohort=care_cohort_for(user=actor, patient_id=patient_id),
        reason=reason,
        specimen=specimen,
        observed=observed,
        chain_of_custody_id=chain_of_custody_id,
        status=TestStatus.COLLECTED,
        collected_at=collected_at,
        collected_by=actor,
        ordered_by=actor,
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="drug_test",
        object_id=test.pk,
        patient=patient_id,
    )
    return test


@transaction.atomic
def test_collect(
    *,
    actor: User,
    drug_test_id: Any,
    collected_at: dt.datetime | None = None,
    specimen: str = "",
    observed: bool = False,
    chain_of_custody_id: str = "",
    refused: bool = False,
) -> DrugTest:
    """Record the collection (or the patient's refusal) of an ordered test: new, so the
    enrollment must be active."""
    test = drug_test_for_user(
        user=actor, drug_test_id=drug_test_id, attempted="collect", for_update=True
    )
    if test.status != TestStatus.ORDERED:
        raise Conflict("Only an ordered test can be collected.")
    now = timezone.now()
    if test.due_by and now > test.due_by:
        raise Conflict("The order's deadline has passed: it is a no-show.")
    if refused:
        test.status = TestStatus.REFUSED
        test.refused_at = now
        test.save(update_fields=["status", "refused_at", "updated_at"])
    else:
        errors: dict[str, list[str]] = {}
        if collected_at is None:
            errors["collected_at"] = ["This field is required."]
        elif collected_at > now + CLOCK_SKEW:
            errors["collected_at"] = ["Collection time cannot be in the future."]
        if not specimen:
            errors["specimen"] = ["This field is required."]
        if errors:
            raise ValidationError(errors)
        test.status = TestStatus.COLLECTED
        test.collected_at = collected_at
        test.collected_by = actor
        test.specimen = specimen
        test.observed = observed
        test.chain_of_custody_id = chain_of_custody_id
        test.save(
            update_fields=[
                "status",
                "collected_at",
                "collected_by",
                "specimen",
                "observed",
                "chain_of_custody_id",
                "updated_at",
            ]
        )
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="drug_test",
        object_id=test.pk,
        patient=test.patient_id,
        detail={"step": "refused" if refused else "collected"},
    )
    return test


def _validate_results(results: list[dict[str, Any]]) -> None:
    errors: dict[str, list[str]] = {}
    seen: set[tuple[Any, Any]] = set()
    for index, line in enumerate(results):
        analyte = line.get("analyte")
        method = line.get("method", Method.SCREEN)
        if analyte not in ANALYTES:
            errors.setdefault("results", []).append(f"Item {index}: unknown analyte code.")
        if line.get("result") not in ResultValue.values:
            errors.setdefault("results", []).append(f"Item {index}: unknown result.")
        if method not in Method.values:
            errors.setdefault("results", []).append(f"Item {index}: unknown method.")
        if (analyte, method) in seen:
            errors.setdefault("results", []).append(f"Item {index}: analyte given twice.")
        seen.add((analyte, method))
    if errors:
        raise ValidationError(errors)


def _write_results(
    *, actor: User, test: DrugTest, version: int, results: list[dict[str, Any]], now: dt.datetime
) -> None:
    for line in results:
        method = line.get("method") or Method.SCREEN
        AnalyteResult.objects.update_or_create(
            test=test,
            version=version,
            analyte=line["analyte"],
            method=method,
            defaults={
                "result": line["result"],
                "value": line.get("value"),
                "confirmation_requested": bool(line.get("confirmation_requested", False)),
                "recorded_by": actor,
                "recorded_at": now,
            },
        )


VALIDITY_FIELDS = ("creatinine", "specific_gravity", "ph", "nitrite")


def _write_validity(*, test: DrugTest, version: int, validity: dict[str, Any]) -> None:
    values = {k: validity.get(k) for k in VALIDITY_FIELDS if k in validity}
    if values:
        ValidityCheck.objects.update_or_create(test=test, version=version, defaults=values)


@transaction.atomic
def test_record_results(
    *,
    actor: User,
    drug_test_id: Any,
    results: list[dict[str, Any]],
    validity: dict[str, Any] | None = None,
) -> DrugTest:
    """Record analyte results and validity values. Repeatable until review (a confirmation
    arrives after the screen); after review only an amendment changes anything. Finishes
    the record of a collected specimen: allowed inside the documentation window."""
    test = drug_test_for_user(
        user=actor, drug_test_id=drug_test_id, attempted="results", for_update=True
    )
    if test.status == TestStatus.REVIEWED:
        raise Conflict("The test is reviewed: amend it instead.")
    if test.status not in (TestStatus.COLLECTED, TestStatus.RESULTED):
        raise ValidationError({"test": ["Results need a collected specimen."]})
    if not results and not validity:
        raise ValidationError({"results": ["Give at least one result or validity value."]})
    _validate_results(results)
    now = timezone.now()
    _write_results(actor=actor, test=test, version=test.version, results=results, now=now)
    _write_validity(test=test, version=test.version, validity=validity or {})
    test.status = TestStatus.RESULTED
    test.save(update_fields=["status", "updated_at"])
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="drug_test",
        object_id=test.pk,
        patient=test.patient_id,
        detail={"step": "results", "analytes": sorted({r["analyte"] for r in results})},
    )
    return test


@transaction.atomic
def test_review(*, actor: User, drug_test_id: Any, comment: str) -> DrugTest:
    test = drug_test_for_user(
        user=actor, drug_test_id=drug_test_id, attempted="review", for_update=True
    )
    if test.status == TestStatus.REVIEWED:
        raise Conflict("The test is already reviewed: amend it instead.")
    if test.status != TestStatus.RESULTED:
        raise ValidationError({"test": ["A test is reviewed after its results are recorded."]})
    TestVersion.objects.create(
        test=test,
        number=test.version,
        reviewed_by=actor,
        reviewed_at=timezone.now(),
        comment=comment,
    )
    test.status = TestStatus.REVIEWED
    test.save(update_fields=["status", "updated_at"])
    audit.record(
        action=Action.REVIEW,
        actor=actor,
        object_type="drug_test",
        object_id=test.pk,
        patient=test.patient_id,
        detail={"version": test.version},
    )
    return test


@transaction.atomic
def test_amend(
    *,
    actor: User,
    drug_test_id: Any,
    reason: str,
    results: list[dict[str, Any]] | None = None,
    validity: dict[str, Any] | None = None,
    comment: str | None = None,
) -> DrugTest:
    """Write the next version of a reviewed test: the previous version's results and
    validity carried forward with the given changes. Earlier versions stay as they were."""
    if not (reason or "").strip():
        raise ValidationError({"reason": ["An amendment needs a reason."]})
    test = drug_test_for_user(
        user=actor, drug_test_id=drug_test_id, attempted="amend", for_update=True
    )
    if test.status != TestStatus.REVIEWED:
        raise Conflict("Only a reviewed test is amended; change results before review.")
    results = results or []
    _validate_results(results)
    previous, number, now = test.version, test.version + 1, timezone.now()
    for old in AnalyteResult.objects.filter(test=test, version=previous):
        AnalyteResult.objects.create(
            test=test,
            version=number,
            analyte=old.analyte,
            method=old.method,
            result=old.result,
            value=old.value,
            confirmation_requested=old.confirmation_requested,
            recorded_by=old.recorded_by,
            recorded_at=old.recorded_at,
        )
    old_validity = ValidityCheck.objects.filter(test=test, version=previous).first()
    if old_validity is not None:
        ValidityCheck.objects.create(
            test=test,
            version=number,
            **{k: getattr(old_validity, k) for k in VALIDITY_FIELDS},
        )
    _write_results(actor=actor, test=test, version=number, results=results, now=now)
    _write_validity(test=test, version=number, validity=validity or {})
    previous_review = TestVersion.objects.get(test=test, number=previous)
    TestVersion.objects.create(
        test=test,
        number=number,
        reviewed_by=actor,
        reviewed_at=now,
        comment=previous_review.comment if comment is None else comment,
        amendment_reason=reason,
    )
    test.version = number
    test.save(update_fields=["version", "updated_at"])
    audit.record(
        action=Action.AMEND,
        actor=actor,
        object_type="drug_test",
        object_id=test.pk,
        patient=test.patient_id,
        detail={"version": number},
    )
    return test


# --- Random draws ----------------------------------------------------------------------------


def _day_bounds(day: dt.date, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def selection_size(pool_size: int, rate: Decimal) -> int:
    """That share of the pool, rounded up so a positive rate always selects someone."""
    if pool_size == 0:
        return 0
    return min(pool_size, max(1, math.ceil(pool_size * rate)))


@transaction.atomic
def draw_create(
    *,
    actor: User,
    cohort_id: Any,
    date: dt.date,
    rate: Decimal,
) -> Draw:
    """Select ``rate`` of the cohort's active patients for testing on ``date`` and order a
    test for each, due by the end of that day in the cohort's time zone."""
    cohort = draw_cohort_for_user(user=actor, cohort_id=cohort_id)
    errors: dict[str, list[str]] = {}
    if not (Decimal(0) < rate <= Decimal(1)):
        errors["rate"] = ["Rate is a share of the cohort: more than 0 and at most 1."]
    if date < timezone.localtime(timezone.now(), ZoneInfo(cohort.timezone)).date():
        errors["date"] = ["A draw is for today or a later day."]
    if errors:
        raise ValidationError(errors)
    pool = sorted(patients_of_cohort(cohort_id=cohort.pk).values_list("id", flat=True))
    selected = sorted(_rng.sample(pool, selection_size(len(pool), rate)))
    now = timezone.now()
    draw = Draw.objects.create(
        cohort=cohort,
        date=date,
        rate=rate,
        drawn_by=actor,
        drawn_at=now,
        pool=pool,
        selected=selected,
        generator=GENERATOR_NAME,
    )
    due_from, due_by = _day_bounds(date, cohort.timezone)
    orders = [
        DrugTest.objects.create(
            patient_id=patient_id,
            cohort=cohort,
            reason="random",
            status=TestStatus.ORDERED,
            ordered_by=actor,
            draw=draw,
            due_from=due_from,
            due_by=due_by,
        )
        for patient_id in selected
    ]
    audit.record_many(
        {
            "action": Action.CREATE,
            "actor": actor,
            "object_type": "drug_test",
            "object_id": test.pk,
            "patient": test.patient_id,
            "detail": {"draw": draw.pk},
        }
        for test in orders
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="screening_draw",
        object_id=draw.pk,
        detail={"cohort": cohort.pk, "pool": len(pool), "selected": len(selected)},
    )
    return draw


# --- Medications -------------------------------------------------------------------------------


def medication_record(
    *,
    actor: User,
    patient_id: Any,
    name: str,
    start_date: dt.date,
    end_date: dt.date | None = None,
) -> DocumentedMedication:
    patient_for_user(
        user=actor,
        patient_id=patient_id,
        attempted="medication",
        object_type="documented_medication",
    )
    if end_date is not None and end_date < start_date:
        raise ValidationError({"end_date": ["The end date is before the start date."]})
    with transaction.atomic():
        med = DocumentedMedication.objects.create(
            patient_id=patient_id,
            name=name,
            start_date=start_date,
            end_date=end_date,
            recorded_by=actor,
        )
        audit.record(
            action=Action.CREATE,
            actor=actor,
            object_type="documented_medication",
            object_id=med.pk,
            patient=patient_id,
        )
    return med


# --- Consents ----------------------------------------------------------------------------------


def consent_create(
    *,
    actor: User,
    patient_id: Any,
    information: list[str],
    recipient: dict[str, str],
    purpose: str,
    expires_on: dt.date | None,
    expires_at_end_of_treatment: bool,
    signed_at: dt.datetime,
    signature_method: str,
    discloser: str = "",
) -> Consent:
    patient_for_user(user=actor, patient_id=patient_id, attempted="consent", object_type="consent")
    errors: dict[str, list[str]] = {}
    if not information:
        errors["information"] = ["Name at least one kind of information."]
    elif any(i not in InformationClass.values for i in information):
        errors["information"] = ["Unknown information class."]
    if not (recipient or {}).get("name", "").strip():
        errors["recipient"] = ["The recipient's name is required."]
    if not (purpose or "").strip():
        errors["purpose"] = ["The purpose of the disclosure is required."]
    if (expires_on is None) == (not expires_at_end_of_treatment):
        errors["expires_on"] = ["Give either expires_on or expires_at_end_of_treatment."]
    if signed_at > timezone.now() + CLOCK_SKEW:
        errors["signed_at"] = ["A consent cannot be signed in the future."]
    if expires_on is not None and expires_on < signed_at.date():
        errors["expires_on"] = ["The consent would expire before it was signed."]
    if errors:
        raise ValidationError(errors)
    cohort = care_cohort_for(user=actor, patient_id=patient_id)
    with transaction.atomic():
        consent = Consent.objects.create(
            patient_id=patient_id,
            discloser=discloser or cohort.name,
            information=sorted(set(information)),
            recipient_name=recipient["name"].strip(),
            recipient_organization=(recipient.get("organization") or "").strip(),
            recipient_address=(recipient.get("address") or "").strip(),
            purpose=purpose.strip(),
            expires_on=expires_on,
            expires_at_end_of_treatment=expires_at_end_of_treatment,
            signed_at=signed_at,
            signature_method=signature_method,
            recorded_by=actor,
        )
        audit.record(
            action=Action.CREATE,
            actor=actor,
            object_type="consent",
            object_id=consent.pk,
            patient=patient_id,
        )
    return consent


@transaction.atomic
def consent_revoke(
    *,
    actor: User,
    consent_id: Any,
    revoked_at: dt.datetime | None = None,
) -> ConsentRevocation:
    """Record the patient's revocation: allowed inside the documentation window (see
    ``screening.selectors``)."""
    consent = consent_for_user(
        user=actor, consent_id=consent_id, attempted="revoke", for_update=True
    )
    if ConsentRevocation.objects.filter(consent=consent).exists():
        raise Conflict("The consent is already revoked.")
    now = timezone.now()
    revoked_at = revoked_at or now
    if revoked_at > now + CLOCK_SKEW:
        raise ValidationError({"revoked_at": ["A revocation cannot be in the future."]})
    revocation = ConsentRevocation.objects.create(
        consent=consent, revoked_at=revoked_at, recorded_by=actor
    )
    audit.record(
        action=Action.REVOKE,
        actor=actor,
        object_type="consent",
        object_id=consent.pk,
        patient=consent.patient_id,
    )
    return revocation


# --- Disclosures -------------------------------------------------------------------------------


class DisclosureRefused(Conflict):
    default_detail = "The consent does not allow this disclosure."
    default_code = "disclosure_refused"


def consent_scope(consent: Consent) -> dict[str, Any]:
    return {
        "consent": consent.pk,
        "discloser": consent.discloser,
        "recipient": {
            "name": consent.recipient_name,
            "organization": consent.recipient_organization,
            "address": consent.recipient_address,
        },
        "purpose": consent.purpose,
        "information": list(consent.information),
        "expires": consent.expires_on.isoformat() if consent.expires_on else "end_of_treatment",
        "signed_at": consent.signed_at.isoformat(),
        "signature_method": consent.signature_method,
    }


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
    if len(cohort_ids) != 1:
        # Fail closed: a discloser that names no cohort of the patient's, or several.
        raise _refuse(
            actor=actor,
            consent=consent,
            code="discloser_unknown",
            detail="The consent's discloser names no single program of the patient's.",
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
