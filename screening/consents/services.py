"""Writes of Part 2 consents (42 CFR 2.31) and their revocations, by a clinician of
the patient's care team."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from screening.common import CLOCK_SKEW, care_cohort_for, patient_for_user
from screening.consents.selectors import consent_for_user, discloser_cohort_for
from screening.models import (
    Consent,
    ConsentRevocation,
    InformationClass,
)
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict


@transaction.atomic
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
    discloser_cohort_id: Any = None,
) -> Consent:
    """Record a patient's signed consent, by a clinician of the patient's care team with an
    active enrollment. The discloser is a cohort in which the patient is actively enrolled
    and of whose care team ``actor`` is a clinician (``discloser_cohort_id``; by default
    the care cohort the record is made in); its name is kept as written on the consent.
    Audited as a creation."""
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
    cohort = (
        care_cohort_for(user=actor, patient_id=patient_id)
        if discloser_cohort_id is None
        else discloser_cohort_for(user=actor, patient_id=patient_id, cohort_id=discloser_cohort_id)
    )
    if cohort is None:
        errors["discloser_cohort"] = [
            "Name a cohort the patient is actively enrolled in and whose care team you are a "
            "clinician of."
        ]
    if errors or cohort is None:
        raise ValidationError(errors)
    consent = Consent.objects.create(
        patient_id=patient_id,
        discloser_cohort=cohort,
        # The name as written on the consent: later renames do not rewrite what was signed.
        discloser=cohort.name,
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


def consent_scope(consent: Consent) -> dict[str, Any]:
    return {
        "consent": consent.pk,
        "discloser": consent.discloser,
        "discloser_cohort": consent.discloser_cohort_id,
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
