"""Drug tests, results, random draws, medications, Part 2 consents and disclosures.

Every row here is PHI and, in substance-use treatment, a 42 CFR Part 2 record. Reads go
through ``screening.selectors``; writes through ``screening.services``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.db import models
from django.db.models import Q

from groups.models import Cohort
from vioip.core.fields import (
    EncryptedBooleanField,
    EncryptedDecimalField,
    EncryptedJSONField,
    EncryptedTextField,
)
from vioip.core.models import TimeStampedModel


class AppendOnlyError(Exception):
    pass


class Specimen(models.TextChoices):
    URINE = "urine"
    ORAL_FLUID = "oral_fluid"
    BREATH = "breath"
    BLOOD = "blood"
    HAIR = "hair"


class Reason(models.TextChoices):
    INTAKE = "intake"
    RANDOM = "random"
    SCHEDULED = "scheduled"
    FOR_CAUSE = "for_cause"
    FOLLOW_UP = "follow_up"


class TestStatus(models.TextChoices):
    ORDERED = "ordered"  # drawn, waiting for collection by its deadline
    COLLECTED = "collected"
    RESULTED = "resulted"
    REVIEWED = "reviewed"
    REFUSED = "refused"  # the patient declined collection


class Overall(models.TextChoices):
    NEGATIVE = "negative"
    NEGATIVE_DILUTE = "negative_dilute"
    POSITIVE = "positive"
    POSITIVE_EXPECTED = "positive_expected"
    INVALID = "invalid"
    REFUSED = "refused"
    NO_SHOW = "no_show"


class ResultValue(models.TextChoices):
    NEGATIVE = "negative"
    POSITIVE = "positive"
    INVALID = "invalid"
    NOT_TESTED = "not_tested"


class Method(models.TextChoices):
    SCREEN = "screen"
    CONFIRMATION = "confirmation"


class Draw(models.Model):
    """A random selection: who drew, when, from which pool, whom."""

    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="screening_draws")
    date = models.DateField(help_text="The day the selected patients are due, cohort-local.")
    rate = models.DecimalField(max_digits=4, decimal_places=3)
    drawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    drawn_at = models.DateTimeField()
    pool = models.JSONField(help_text="Ids of the active patients drawn from.")
    selected = models.JSONField(help_text="Ids of the patients selected.")
    generator = models.CharField(max_length=64)

    class Meta:
        ordering = ["-date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gt=0, rate__lte=1), name="screening_draw_rate_range"
            ),
        ]

    def __str__(self) -> str:
        return f"draw {self.pk} of cohort {self.cohort_id} for {self.date}"


class DrugTest(TimeStampedModel):
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="drug_tests"
    )
    # The cohort whose care team owns the test (the patient's enrollment when ordered).
    cohort = models.ForeignKey(Cohort, on_delete=models.PROTECT, related_name="drug_tests")
    reason = models.CharField(max_length=12, choices=Reason.choices)
    specimen = models.CharField(max_length=12, choices=Specimen.choices, blank=True)
    observed = models.BooleanField(default=False)
    chain_of_custody_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=TestStatus.choices)
    collected_at = models.DateTimeField(null=True, blank=True)
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ordered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    draw = models.ForeignKey(
        Draw, on_delete=models.PROTECT, null=True, blank=True, related_name="tests"
    )
    # Orders only: when the patient may learn of it, and when it becomes a no-show.
    due_from = models.DateTimeField(null=True, blank=True)
    due_by = models.DateTimeField(null=True, blank=True)
    refused_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-collected_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=TestStatus.values), name="screening_test_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="ordered", due_by__isnull=False)
                | Q(status="refused", refused_at__isnull=False)
                | Q(
                    status__in=["collected", "resulted", "reviewed"],
                    collected_at__isnull=False,
                ),
                name="screening_test_status_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["patient", "collected_at"]),
            models.Index(fields=["cohort", "due_by"]),
        ]

    def __str__(self) -> str:
        return f"drug test {self.pk}"


class AnalyteResult(models.Model):
    """One analyte's result in one version of a test. Rows are never edited after review:
    an amendment writes the next version's rows."""

    test = models.ForeignKey(DrugTest, on_delete=models.PROTECT, related_name="results")
    version = models.PositiveIntegerField()
    # Analyte and method stay in clear: they key the row (one result per analyte and
    # method per version). What was found, how much, and whether a screen was sent for
    # confirmation are encrypted; see docs/data-protection.md.
    analyte = models.CharField(max_length=8)
    method = models.CharField(max_length=12, choices=Method.choices)
    result = EncryptedTextField(choices=ResultValue.choices)
    value = EncryptedDecimalField(decimal_places=4, null=True, blank=True)
    confirmation_requested = EncryptedBooleanField(default=False)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["test_id", "version", "analyte", "method"]
        constraints = [
            models.UniqueConstraint(
                fields=["test", "version", "analyte", "method"],
                name="screening_result_once_per_version",
            ),
        ]

    def __str__(self) -> str:
        return f"result {self.analyte} of test {self.test_id} v{self.version}"


class ValidityCheck(models.Model):
    """Specimen validity measurements of one version (creatinine mg/dL, nitrite µg/mL)."""

    test = models.ForeignKey(DrugTest, on_delete=models.PROTECT, related_name="validity_checks")
    version = models.PositiveIntegerField()
    creatinine = EncryptedDecimalField(decimal_places=3, null=True, blank=True)
    specific_gravity = EncryptedDecimalField(decimal_places=4, null=True, blank=True)
    ph = EncryptedDecimalField(decimal_places=2, null=True, blank=True)
    nitrite = EncryptedDecimalField(decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["test_id", "version"]
        constraints = [
            models.UniqueConstraint(fields=["test", "version"], name="screening_validity_once"),
        ]

    def __str__(self) -> str:
        return f"validity of test {self.test_id} v{self.version}"


class TestVersion(models.Model):
    """A reviewed state of a test. Version 1 is the first review; each amendment adds one."""

    test = models.ForeignKey(DrugTest, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField()
    comment = EncryptedTextField(blank=True, default="")
    amendment_reason = EncryptedTextField(blank=True, default="")

    class Meta:
        ordering = ["test_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["test", "number"], name="screening_version_once"),
        ]

    def __str__(self) -> str:
        return f"test {self.test_id} version {self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Reviewed versions are never edited; amend instead.")
        super().save(*args, **kwargs)


class MedicationName(models.TextChoices):
    BUPRENORPHINE = "buprenorphine"
    METHADONE = "methadone"
    PRESCRIBED_AMPHETAMINE = "prescribed_amphetamine"
    PRESCRIBED_BENZODIAZEPINE = "prescribed_benzodiazepine"
    PRESCRIBED_BARBITURATE = "prescribed_barbiturate"
    PRESCRIBED_OPIOID = "prescribed_opioid"
    PRESCRIBED_FENTANYL = "prescribed_fentanyl"
    DRONABINOL = "dronabinol"


class DocumentedMedication(TimeStampedModel):
    """A medication a clinician documented the patient takes; it explains expected positives."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="documented_medications"
    )
    # Encrypted: a medication such as buprenorphine says the patient is treated for
    # opioid use. Nothing filters on it; outcomes match medications in Python.
    name = EncryptedTextField(choices=MedicationName.choices)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["patient_id", "start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="screening_medication_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"medication {self.pk}"


class InformationClass(models.TextChoices):
    SCREENING_RESULTS = "screening_results"
    ATTENDANCE = "attendance"
    ENROLLMENT_STATUS = "enrollment_status"
    TREATMENT_SUMMARY = "treatment_summary"


class SignatureMethod(models.TextChoices):
    HANDWRITTEN = "handwritten"
    ELECTRONIC = "electronic"


class Consent(TimeStampedModel):
    """A patient's written Part 2 consent to disclose (42 CFR 2.31). Never edited: a
    consent ends by expiry or by a revocation event."""

    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="part2_consents"
    )
    # The program permitted to disclose (42 CFR 2.31(a)(2)): a reference, so a renamed
    # cohort still discloses and two cohorts of one name are never confused. Null only on
    # consents recorded before it existed whose name matched no single cohort of the
    # patient's: such a consent permits no disclosure.
    discloser_cohort = models.ForeignKey(
        Cohort,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="part2_consents",
        help_text="The cohort permitted to disclose.",
    )
    discloser = models.CharField(
        max_length=200,
        help_text="The discloser's name as written on the consent (the cohort's name at signing).",
    )
    information = models.JSONField(help_text="Information classes covered.")
    recipient_name = EncryptedTextField()
    recipient_organization = EncryptedTextField(blank=True, default="")
    recipient_address = EncryptedTextField(blank=True, default="")
    purpose = EncryptedTextField()
    expires_on = models.DateField(null=True, blank=True)
    expires_at_end_of_treatment = models.BooleanField(default=False)
    signed_at = models.DateTimeField()
    signature_method = models.CharField(max_length=12, choices=SignatureMethod.choices)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_on__isnull=False, expires_at_end_of_treatment=False)
                | Q(expires_on__isnull=True, expires_at_end_of_treatment=True),
                name="screening_consent_one_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"consent {self.pk}"


class ConsentRevocation(models.Model):
    """Append-only: the event that revoked a consent, and who recorded it."""

    consent = models.OneToOneField(Consent, on_delete=models.PROTECT, related_name="revocation")
    revoked_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"revocation of consent {self.consent_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Revocations are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Revocations are append-only.")


class Disclosure(models.Model):
    """One disclosure made under a consent: who, to whom, what, for which period, when."""

    consent = models.ForeignKey(Consent, on_delete=models.PROTECT, related_name="disclosures")
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disclosures_about"
    )
    disclosed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    disclosed_at = models.DateTimeField()
    recipient = EncryptedJSONField()
    information = models.JSONField()
    period_from = models.DateField()
    period_to = models.DateField()
    notice_version = models.CharField(max_length=32)
    package = EncryptedTextField(help_text="The package as sent (JSON).")

    class Meta:
        ordering = ["-disclosed_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_to__gte=models.F("period_from")),
                name="screening_disclosure_period_order",
            ),
        ]

    def __str__(self) -> str:
        return f"disclosure {self.pk}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Disclosures are a record of what was sent; never edited.")
        super().save(*args, **kwargs)
