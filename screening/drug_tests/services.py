"""Writes of drug tests, results, reviews, amendments and documented medications.

Only a clinician of the patient's care team writes them, through the door
``drug_test_for_user`` (or ``patient_for_user`` for a new record), which says which write
needs an active enrollment and which may finish documentation inside the window after
discharge. A caller who may not gets the door's ``NotVisible``: the standard 404 and an
audited denial, like a reader would."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from screening.analytes import ANALYTES
from screening.common import CLOCK_SKEW, care_cohort_for, patient_for_user
from screening.drug_tests.selectors import drug_test_for_user
from screening.models import (
    AnalyteResult,
    DocumentedMedication,
    DrugTest,
    Method,
    ResultValue,
    TestStatus,
    TestVersion,
    ValidityCheck,
)
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict


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
