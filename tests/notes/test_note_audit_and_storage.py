"""Every read audited once; no note text stored in clear; bounded list queries."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.notes.conftest import (
    audit_events,
    create_note,
    group_note_body,
    past_group_session,
    progress_note_body,
)

pytestmark = pytest.mark.django_db

SECRET_WORDS = "zebrafinch-secret"


def test_one_audit_event_per_note_read(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))

    client.get(f"/api/notes/{note['id']}/")

    [event] = audit_events(action="read", object_type="note")
    assert (event.actor_id, event.object_id) == (cast.clinician.pk, str(note["id"]))
    assert event.patient_id == cast.patient.pk
    assert event.outcome == "allowed"
    assert event.detail == {"kind": "progress", "via": "detail"}


def test_each_note_of_a_list_page_is_audited_once(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    ids = [create_note(client, progress_note_body(cast.patient))["id"] for _ in range(3)]

    response = client.get("/api/notes/?page_size=2")

    shown = [n["id"] for n in response.json()["results"]]
    assert len(shown) == 2
    events = audit_events(action="read", object_type="note")
    assert sorted(e.object_id for e in events) == sorted(str(i) for i in shown)
    assert set(shown) < set(ids)


def test_group_note_read_names_the_patients_of_its_entries(
    cast: Any, client_for: Any, group_session: Any
) -> None:
    client = client_for(cast.facilitator)
    note = create_note(client, group_note_body(group_session, cast.patient))

    client.get(f"/api/notes/{note['id']}/")

    [event] = audit_events(action="read", object_type="note")
    assert event.patient_id == cast.patient.pk
    assert event.detail["patients"] == [cast.patient.pk]


def test_writes_are_audited_with_the_patient(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    client.post(f"/api/notes/{note['id']}/sign/")
    client.post(f"/api/notes/{note['id']}/addenda/", {"text": "Late entry."}, format="json")

    events = audit_events(object_type="note", object_id=str(note["id"]))
    writes = [e for e in events if e.action != "read"]
    assert [e.action for e in writes] == ["create", "sign", "amend"]
    assert all(e.patient_id == cast.patient.pk for e in writes)
    assert "Late entry" not in str([e.detail for e in events])


def _non_audit_queries(captured: CaptureQueriesContext) -> int:
    # Audit writes are one event per note by design (and each opens a savepoint); the
    # reads that build the page must not grow with it.
    return sum(
        1
        for q in captured.captured_queries
        if "audit_" not in q["sql"] and "SAVEPOINT" not in q["sql"].upper()
    )


def test_list_query_count_does_not_grow_with_the_number_of_notes(
    cast: Any, client_for: Any
) -> None:
    fac, clin = client_for(cast.facilitator), client_for(cast.clinician)

    def add_notes(count: int) -> None:
        for i in range(count):
            session = past_group_session(
                cast.cohort, hours_ago=24 * (i + 1), patients=[cast.patient]
            )
            note = create_note(fac, group_note_body(session, cast.patient))
            fac.post(f"/api/notes/{note['id']}/sign/")
            fac.post(f"/api/notes/{note['id']}/addenda/", {"text": "x"}, format="json")
            create_note(clin, progress_note_body(cast.patient))

    add_notes(1)
    with CaptureQueriesContext(connection) as few:
        assert clin.get("/api/notes/").json()["count"] == 2
    add_notes(4)
    with CaptureQueriesContext(connection) as many:
        assert clin.get("/api/notes/").json()["count"] == 10

    assert _non_audit_queries(many) == _non_audit_queries(few)
    assert _non_audit_queries(many) <= 15


def test_no_note_text_is_stored_in_clear(cast: Any, client_for: Any, group_session: Any) -> None:
    fac, clin = client_for(cast.facilitator), client_for(cast.clinician)
    body = group_note_body(group_session, cast.patient, mood=f"mood {SECRET_WORDS}")
    body["shared"]["topic"] = f"topic {SECRET_WORDS}"
    group = create_note(fac, body)
    fac.post(f"/api/notes/{group['id']}/sign/")
    fac.post(f"/api/notes/{group['id']}/addenda/", {"text": f"add {SECRET_WORDS}"}, format="json")
    sections = {k: f"{k} {SECRET_WORDS}" for k in ("data", "assessment", "plan")}
    create_note(clin, progress_note_body(cast.patient, format="DAP", sections=sections))
    therapy = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": SECRET_WORDS}
    create_note(clin, therapy)
    client_for(cast.outsider).post(
        "/api/notes/emergency-access/",
        {"patient": cast.patient.pk, "reason": f"crisis review {SECRET_WORDS}"},
        format="json",
    )

    tables = {
        "notes_note": ["topic", "interventions", "themes", "sections", "text"],
        "notes_groupnoteentry": ["participation", "progress", "mood", "risk", "follow_up"],
        "notes_addendum": ["text"],
        "notes_emergencyaccessgrant": ["reason"],
    }
    with connection.cursor() as cursor:
        for table, columns in tables.items():
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")  # noqa: S608
            rows = cursor.fetchall()
            assert rows, table
            for row in rows:
                for value in row:
                    assert SECRET_WORDS not in value
                    assert value.startswith("fernet:")
        cursor.execute("SELECT * FROM audit_auditevent")
        assert SECRET_WORDS not in str(cursor.fetchall())


def test_a_conflict_body_carries_no_note_text(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    client.post(f"/api/notes/{note['id']}/sign/")

    response = client.patch(
        f"/api/notes/{note['id']}/",
        {"sections": {"subjective": SECRET_WORDS}},
        format="json",
    )

    assert response.status_code == 409
    assert SECRET_WORDS not in response.content.decode()


def test_schema_describes_the_note_endpoints(client_for: Any) -> None:
    response = client_for(None).get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/notes/",
        "/api/notes/{note_id}/",
        "/api/notes/{note_id}/sign/",
        "/api/notes/{note_id}/cosign/",
        "/api/notes/{note_id}/addenda/",
        "/api/notes/overdue/",
        "/api/notes/emergency-access/",
        "/api/me/records/notes/",
    ):
        assert path in paths
