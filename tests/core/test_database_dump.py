"""Nothing sensitive in clear: a full workflow through the API, then a dump of the whole
database (what an operator's backup or a stolen disk holds) that must contain none of the
clinical text or substance-use details the workflow wrote.

SQLite: ``connection.iterdump()``. PostgreSQL: ``pg_dump`` of the test database when the
client is installed, else every column of every table read back as text.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone

from tests.factories import SessionFactory, UserFactory
from tests.rooms.conftest import open_socket
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db(transaction=True)

# Distinctive strings: if one shows up in the dump, a column holds it in clear.
CANCEL_REASON = "Zq-cancel: Alex was readmitted to detox overnight"
CHAT_TEXT = "Zq-chat: I used again last night after the meeting"
NOTE_SUBJECTIVE = "Zq-note: reports opioid cravings every evening"
REVIEW_COMMENT = "Zq-comment: THC positive, patient disclosed use at a party"
RESULT_VALUE = "987.6543"
RECIPIENT_NAME = "Zq-officer Dana Quillfeather"
RECIPIENT_ORGANIZATION = "County Probation Department"
RECIPIENT_ADDRESS = "Zq-address 77 Courthouse Plaza"
PURPOSE = "Compliance with conditions of probation"
MEDICATION = "buprenorphine"
AFTERCARE_NOTES = "Zq-aftercare: weekly MAT clinic with Dr. Okonkwo"
AMENDMENT_REASON = "Zq-amend: confirmation by GC/MS came back"
ABSENCE_REASON = "Zq-absence: intake appointment at the methadone clinic"

MARKERS = [
    CANCEL_REASON,
    CHAT_TEXT,
    NOTE_SUBJECTIVE,
    REVIEW_COMMENT,
    RESULT_VALUE,
    RECIPIENT_NAME,
    RECIPIENT_ORGANIZATION,
    RECIPIENT_ADDRESS,
    PURPOSE,
    MEDICATION,
    AFTERCARE_NOTES,
    AMENDMENT_REASON,
    ABSENCE_REASON,
]


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return response.json() if response.content else {}


def _workflow_over_rest(cast: Any, client_for: Callable[..., Any]) -> dict[str, Any]:
    admin = client_for(cast.admin)
    cohort = _ok(
        admin.post(
            "/api/cohorts/",
            {
                "name": "Dump SUD IOP",
                "track": "substance_use",
                "modality": "virtual",
                "timezone": "UTC",
                "meeting_days": [1, 3, 5],
                "start_time": "18:00",
                "duration_minutes": 180,
                "start_date": (timezone.localdate() - dt.timedelta(days=30)).isoformat(),
            },
            format="json",
        )
    )
    for user, role in ((cast.clinician, "clinician"), (cast.facilitator, "facilitator")):
        _ok(
            admin.post(
                f"/api/cohorts/{cohort['id']}/staff/",
                {"user": user.pk, "role": role},
                format="json",
            )
        )
    patient = UserFactory(username="dumped", role=Role.PATIENT)
    enrollment = _ok(
        admin.post(
            f"/api/cohorts/{cohort['id']}/enrollments/",
            {
                "patient": patient.pk,
                "start_date": (timezone.localdate() - dt.timedelta(days=20)).isoformat(),
            },
            format="json",
        )
    )

    later = timezone.now() + dt.timedelta(days=2)
    session = _ok(
        admin.post(
            "/api/sessions/",
            {
                "cohort": cohort["id"],
                "kind": "group_therapy",
                "title": "Evening group",
                "starts_at": later.isoformat(),
                "ends_at": (later + dt.timedelta(hours=3)).isoformat(),
            },
            format="json",
        )
    )
    _ok(
        admin.post(
            f"/api/sessions/{session['id']}/cancel/", {"reason": CANCEL_REASON}, format="json"
        ),
        200,
    )

    clin = client_for(cast.clinician)
    _ok(
        clin.post(
            "/api/notes/",
            {
                "kind": "progress",
                "patient": patient.pk,
                "format": "SOAP",
                "sections": {
                    "subjective": NOTE_SUBJECTIVE,
                    "objective": "Calm.",
                    "assessment": "Improving.",
                    "plan": "Continue.",
                },
            },
            format="json",
        )
    )

    _ok(
        clin.post(
            "/api/screening/medications/",
            {
                "patient": patient.pk,
                "name": MEDICATION,
                "start_date": (timezone.localdate() - dt.timedelta(days=10)).isoformat(),
            },
            format="json",
        )
    )
    test = _ok(
        clin.post(
            "/api/screening/tests/",
            {
                "patient": patient.pk,
                "collected_at": (timezone.now() - dt.timedelta(hours=2)).isoformat(),
                "specimen": "urine",
                "observed": True,
                "reason": "scheduled",
                "chain_of_custody_id": "CCF-DUMP",
            },
            format="json",
        )
    )
    _ok(
        clin.post(
            f"/api/screening/tests/{test['id']}/results/",
            {
                "results": [
                    {"analyte": "THC", "result": "positive", "value": RESULT_VALUE},
                    {"analyte": "COC", "result": "negative"},
                ],
                "validity": {"creatinine": "91.5", "specific_gravity": "1.0180"},
            },
            format="json",
        ),
        200,
    )
    _ok(
        clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": REVIEW_COMMENT}),
        200,
    )

    _ok(
        clin.post(
            f"/api/screening/tests/{test['id']}/amend/",
            {
                "reason": AMENDMENT_REASON,
                "results": [
                    {"analyte": "THC", "result": "positive", "value": RESULT_VALUE},
                    {"analyte": "THC", "method": "confirmation", "result": "positive"},
                ],
            },
            format="json",
        ),
        200,
    )

    upcoming = _ok(
        admin.post(
            "/api/sessions/",
            {
                "cohort": cohort["id"],
                "kind": "workshop",
                "title": "Workshop",
                "starts_at": (later + dt.timedelta(days=1)).isoformat(),
                "ends_at": (later + dt.timedelta(days=1, hours=2)).isoformat(),
            },
            format="json",
        )
    )
    _ok(
        client_for(patient).post(
            "/api/me/absences/",
            {"session": upcoming["id"], "reason": ABSENCE_REASON},
            format="json",
        )
    )

    consent = _ok(
        clin.post(
            "/api/screening/consents/",
            {
                "patient": patient.pk,
                "information": ["screening_results", "enrollment_status"],
                "recipient": {
                    "name": RECIPIENT_NAME,
                    "organization": RECIPIENT_ORGANIZATION,
                    "address": RECIPIENT_ADDRESS,
                },
                "purpose": PURPOSE,
                "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
                "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
                "signature_method": "electronic",
            },
            format="json",
        )
    )
    today = timezone.localdate()
    package = _ok(
        clin.post(
            "/api/screening/disclosures/",
            {
                "consent": consent["id"],
                "from": (today - dt.timedelta(days=15)).isoformat(),
                "to": today.isoformat(),
            },
            format="json",
        )
    )
    # The package itself carries the results: the workflow really disclosed them.
    assert RECIPIENT_ORGANIZATION in str(package)

    live = SessionFactory(cohort_id=cohort["id"], waiting_room=False)
    return {"cohort": cohort, "enrollment": enrollment, "patient": patient, "live": live}


def _discharge(cast: Any, client_for: Callable[..., Any], made: dict[str, Any]) -> None:
    enrollment = made["enrollment"]
    _ok(
        client_for(cast.admin).post(
            f"/api/cohorts/{made['cohort']['id']}/enrollments/{enrollment['id']}/discharge/",
            {
                "reason": "completed",
                "discharged_on": timezone.localdate().isoformat(),
                "aftercare": {"level": "medication_management", "notes": AFTERCARE_NOTES},
            },
            format="json",
        ),
        200,
    )


def _dump() -> str:
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump())
    settings = connection.settings_dict
    if shutil.which("pg_dump"):
        env = {**os.environ}
        if settings.get("PASSWORD"):
            env["PGPASSWORD"] = str(settings["PASSWORD"])
        command = ["pg_dump", "--data-only", "--no-owner", "--dbname", settings["NAME"]]
        if settings.get("HOST"):
            command += ["--host", str(settings["HOST"])]
        if settings.get("PORT"):
            command += ["--port", str(settings["PORT"])]
        if settings.get("USER"):
            command += ["--username", str(settings["USER"])]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode == 0:
            return done.stdout
    # No usable pg_dump: read every column of every table as text.
    quote = connection.ops.quote_name
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {quote(table)}")  # noqa: S608 - introspected names
            lines.extend(f"{table}: {row!r}" for row in cursor.fetchall())
    return "\n".join(lines)


def _rows_by_table(dump: str) -> dict[str, list[str]]:
    """The dumped rows of each table, whichever of the three formats ``_dump`` gave."""
    rows: dict[str, list[str]] = {}
    copying: str | None = None
    for line in dump.splitlines():
        if copying is not None:
            if line == "\\.":
                copying = None
            else:
                rows[copying].append(line)
        elif line.startswith("COPY "):
            copying = line.split()[1].split(".")[-1].strip('"')
            rows.setdefault(copying, [])
        elif line.startswith("INSERT INTO "):
            table = line.split()[2].strip('"')
            rows.setdefault(table, []).append(line)
        elif ": " in line:
            table, _, row = line.partition(": ")
            rows.setdefault(table, []).append(row)
    return rows


async def test_a_database_dump_after_a_full_workflow_holds_no_clinical_text(
    cast: Any, client_for: Callable[..., Any]
) -> None:
    made = await sync_to_async(_workflow_over_rest)(cast, client_for)

    def ticket() -> str:
        response = client_for(made["patient"]).post(f"/api/sessions/{made['live'].pk}/ticket/")
        return str(_ok(response)["ticket"])

    socket = await open_socket(made["live"].pk, await sync_to_async(ticket)())
    await socket.receive()
    await socket.send({"type": "chat.send", "client_id": str(uuid.uuid4()), "text": CHAT_TEXT})
    stored = await socket.receive_type("chat.message")
    assert stored["text"] == CHAT_TEXT
    await socket.close()

    await sync_to_async(_discharge)(cast, client_for, made)
    dump = await sync_to_async(_dump)()

    # The dump is real: it holds the rows the workflow wrote.
    rows = _rows_by_table(dump)
    assert "Dump SUD IOP" in dump
    assert any("CCF-DUMP" in row for row in rows["screening_drugtest"])
    assert len(rows["screening_analyteresult"]) == 5
    assert len(rows["attendance_plannedabsence"]) == 1
    assert len(rows["rooms_chatmessage"]) == 1

    assert [marker for marker in MARKERS if marker.lower() in dump.lower()] == []
    # Per-analyte results: "positive" next to THC and the patient would say it all, and a
    # confirmation requested says the screen was not negative.
    for row in rows["screening_analyteresult"]:
        assert "THC" in row or "COC" in row
        assert "positive" not in row.lower()
        assert "negative" not in row.lower()
