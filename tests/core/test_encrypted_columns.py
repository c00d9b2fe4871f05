"""The columns that went from clear to encrypted: rows written before the change are
encrypted by the migration (and decrypted back by its reverse), and key rotation covers
them like every other encrypted field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from screening.models import AnalyteResult, Consent, Disclosure, DocumentedMedication
from sessions_app.models import Session
from tests.factories import CohortFactory, UserFactory
from vioip.accounts.models import Role
from vioip.core.fields import PREFIX, encrypt_columns, encrypt_text

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("screening", "0001_initial"), ("sessions_app", "0002_generated_slot")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def _latest() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def _column(table: str, column: str, pk: int) -> Any:
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote(column)} FROM {quote(table)} WHERE id = %s",  # noqa: S608
            [pk],
        )
        return cursor.fetchone()[0]


def _write_in_clear(apps: Any) -> dict[str, int]:
    """Rows as the schema before encryption held them (historical models, plain columns)."""
    clinician = UserFactory(role=Role.CLINICIAN)
    patient = UserFactory(role=Role.PATIENT)
    cohort = CohortFactory()
    now = timezone.now()
    test = apps.get_model("screening", "DrugTest").objects.create(
        patient_id=patient.pk,
        cohort_id=cohort.pk,
        reason="scheduled",
        status="resulted",
        collected_at=now,
    )
    result = apps.get_model("screening", "AnalyteResult").objects.create(
        test=test,
        version=1,
        analyte="THC",
        method="screen",
        result="positive",
        value=Decimal("48.5"),
        confirmation_requested=True,
        recorded_by_id=clinician.pk,
        recorded_at=now,
    )
    medication = apps.get_model("screening", "DocumentedMedication").objects.create(
        patient_id=patient.pk,
        name="buprenorphine",
        start_date=timezone.localdate(),
        recorded_by_id=clinician.pk,
    )
    consent = apps.get_model("screening", "Consent").objects.create(
        patient_id=patient.pk,
        discloser="Evening SUD IOP",
        information=["screening_results"],
        recipient_name="Officer Reyes",
        recipient_organization="County Probation Department",
        recipient_address="1 Court Plaza",
        purpose="Compliance with conditions of probation",
        expires_on=timezone.localdate() + dt.timedelta(days=30),
        signed_at=now,
        signature_method="electronic",
        recorded_by_id=clinician.pk,
    )
    disclosure = apps.get_model("screening", "Disclosure").objects.create(
        consent=consent,
        patient_id=patient.pk,
        disclosed_by_id=clinician.pk,
        disclosed_at=now,
        recipient={"name": "Officer Reyes", "organization": "County Probation Department"},
        information=["screening_results"],
        period_from=timezone.localdate(),
        period_to=timezone.localdate(),
        notice_version="2024",
        package=encrypt_text("{}"),
    )
    session = apps.get_model("sessions_app", "Session").objects.create(
        cohort_id=cohort.pk,
        kind="workshop",
        title="Workshop",
        starts_at=now,
        ends_at=now + dt.timedelta(hours=1),
        status="cancelled",
        cancel_reason="Facilitator's relapse",
    )
    return {
        "result": result.pk,
        "medication": medication.pk,
        "consent": consent.pk,
        "disclosure": disclosure.pk,
        "session": session.pk,
    }


def test_rows_written_in_clear_are_encrypted_by_the_migration_and_back_by_its_reverse() -> None:
    try:
        executor = _migrate(BEFORE)
        ids = _write_in_clear(executor.loader.project_state(BEFORE).apps)

        _latest()
        stored = _column("screening_analyteresult", "result", ids["result"])
        assert stored.startswith(PREFIX)
        for column in ("value", "confirmation_requested"):
            assert _column("screening_analyteresult", column, ids["result"]).startswith(PREFIX)
        assert _column("screening_documentedmedication", "name", ids["medication"]).startswith(
            PREFIX
        )
        for column in ("recipient_name", "recipient_organization", "recipient_address"):
            assert _column("screening_consent", column, ids["consent"]).startswith(PREFIX)
        assert _column("screening_disclosure", "recipient", ids["disclosure"]).startswith(PREFIX)
        assert _column("sessions_app_session", "cancel_reason", ids["session"]).startswith(PREFIX)

        result = AnalyteResult.objects.get(pk=ids["result"])
        assert (result.result, result.value, result.confirmation_requested) == (
            "positive",
            Decimal("48.5000"),
            True,
        )
        assert DocumentedMedication.objects.get(pk=ids["medication"]).name == "buprenorphine"
        consent = Consent.objects.get(pk=ids["consent"])
        assert consent.purpose == "Compliance with conditions of probation"
        assert Disclosure.objects.get(pk=ids["disclosure"]).recipient == {
            "name": "Officer Reyes",
            "organization": "County Probation Department",
        }
        assert Session.objects.get(pk=ids["session"]).cancel_reason == "Facilitator's relapse"

        executor = _migrate(BEFORE)
        assert _column("screening_analyteresult", "result", ids["result"]) == "positive"
        assert _column("screening_consent", "purpose", ids["consent"]) == (
            "Compliance with conditions of probation"
        )
        old = executor.loader.project_state(BEFORE).apps
        old_result = old.get_model("screening", "AnalyteResult").objects.get(pk=ids["result"])
        assert (old_result.value, old_result.confirmation_requested) == (Decimal("48.5"), True)
        old_disclosure = old.get_model("screening", "Disclosure").objects.get(pk=ids["disclosure"])
        assert old_disclosure.recipient["name"] == "Officer Reyes"
    finally:
        _latest()


def test_key_rotation_re_encrypts_the_newly_encrypted_columns(
    cast: Any, client_for: Any, settings: Any
) -> None:
    clin = client_for(cast.clinician)
    response = clin.post(
        "/api/screening/medications/",
        {"patient": cast.patient.pk, "name": "methadone", "start_date": "2026-01-05"},
        format="json",
    )
    assert response.status_code == 201, response.content
    medication_id = response.json()["id"]
    before = _column("screening_documentedmedication", "name", medication_id)

    settings.FIELD_ENCRYPTION_KEYS = [
        Fernet.generate_key().decode(),
        *settings.FIELD_ENCRYPTION_KEYS,
    ]
    call_command("rotate_field_keys")
    after = _column("screening_documentedmedication", "name", medication_id)
    assert after != before

    # Only the new key left: the rotated value still reads.
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert DocumentedMedication.objects.get(pk=medication_id).name == "methadone"


def test_the_data_migration_walks_a_table_in_batches(cast: Any) -> None:
    names = ["methadone", "buprenorphine", "dronabinol"]
    ids = [
        DocumentedMedication.objects.create(
            patient=cast.patient,
            name=name,
            start_date=timezone.localdate(),
            recorded_by=cast.clinician,
        ).pk
        for name in names
    ]
    forward, backward = encrypt_columns("screening.DocumentedMedication", ["name"], batch_size=2)
    editor = SimpleNamespace(connection=connection)

    backward(apps, editor)
    assert [_column("screening_documentedmedication", "name", pk) for pk in ids] == names
    forward(apps, editor)
    stored = [_column("screening_documentedmedication", "name", pk) for pk in ids]
    assert all(value.startswith(PREFIX) for value in stored)
    assert [DocumentedMedication.objects.get(pk=pk).name for pk in ids] == names
