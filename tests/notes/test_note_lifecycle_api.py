"""Drafts, signatures, addenda and co-signatures."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.utils import timezone

from groups.notes.models import Note
from tests.notes.conftest import (
    SOAP,
    audit_events,
    create_note,
    group_note_body,
    progress_note_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def facilitator_note(cast: Any, client_for: Any, group_session: Any) -> dict[str, Any]:
    return create_note(client_for(cast.facilitator), group_note_body(group_session, cast.patient))


def sign(client: Any, note_id: int) -> Any:
    return client.post(f"/api/notes/{note_id}/sign/")


def test_author_edits_a_draft(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    new_sections = {**SOAP, "plan": "Refer to medication management."}

    response = client.patch(f"/api/notes/{note['id']}/", {"sections": new_sections}, format="json")

    assert response.status_code == 200
    assert response.json()["sections"]["plan"] == "Refer to medication management."
    assert [e.action for e in audit_events(object_type="note", action="update")] == ["update"]


def test_editing_a_field_of_another_kind_is_refused(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))

    response = client.patch(f"/api/notes/{note['id']}/", {"text": "x"}, format="json")

    assert response.status_code == 400
    assert "text" in response.json()["fields"]


def test_group_entries_are_replaced_on_edit(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    entries = [{"patient": cast.patient.pk, "mood": "Anxious", "risk": "low"}]

    response = client_for(cast.facilitator).patch(
        f"/api/notes/{facilitator_note['id']}/", {"entries": entries}, format="json"
    )

    assert response.status_code == 200
    [entry] = response.json()["entries"]
    assert (entry["mood"], entry["risk"], entry["participation"]) == ("Anxious", "low", "")


def test_signing_stores_signer_time_and_content_hash(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))

    response = sign(client, note["id"])

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "signed"
    assert body["signed_by"]["id"] == cast.clinician.pk
    assert body["signed_at"] is not None
    assert len(body["content_hash"]) == 64
    assert audit_events(action="sign")[0].patient_id == cast.patient.pk


def test_signed_note_can_never_be_edited(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    signed = sign(client, note["id"]).json()

    response = client.patch(
        f"/api/notes/{note['id']}/", {"sections": {**SOAP, "plan": "changed"}}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    after = client.get(f"/api/notes/{note['id']}/").json()
    assert after["sections"] == SOAP
    assert after["content_hash"] == signed["content_hash"]
    assert not audit_events(action="update")


def test_signing_twice_is_a_conflict(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    sign(client, note["id"])

    assert sign(client, note["id"]).status_code == 409


def test_only_the_author_signs(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    response = sign(client_for(cast.clinician), facilitator_note["id"])

    assert response.status_code == 403
    assert Note.objects.get(pk=facilitator_note["id"]).status == "draft"
    [denied] = audit_events(action="denied", actor=cast.clinician)
    assert denied.object_id == str(facilitator_note["id"])
    assert denied.detail["attempted"] == "sign"


def test_addenda_are_shown_in_the_order_they_were_written(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    sign(client, note["id"])
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for text in ("First correction.", "Second correction.", "Third correction."):
            traveller.shift(60)
            response = client.post(
                f"/api/notes/{note['id']}/addenda/", {"text": text}, format="json"
            )
            assert response.status_code == 201

    addenda = client.get(f"/api/notes/{note['id']}/").json()["addenda"]
    assert [a["text"] for a in addenda] == [
        "First correction.",
        "Second correction.",
        "Third correction.",
    ]
    assert all(a["author"]["id"] == cast.clinician.pk and a["signed_at"] for a in addenda)
    assert len(audit_events(action="amend")) == 3


def test_addenda_leave_the_signed_content_unchanged(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    signed = sign(client, note["id"]).json()

    client.post(f"/api/notes/{note['id']}/addenda/", {"text": "Late entry."}, format="json")

    after = client.get(f"/api/notes/{note['id']}/").json()
    assert after["sections"] == signed["sections"]
    assert after["content_hash"] == signed["content_hash"]


def test_an_addendum_to_a_draft_is_a_conflict(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))

    response = client.post(f"/api/notes/{note['id']}/addenda/", {"text": "x"}, format="json")

    assert response.status_code == 409
    assert client.get(f"/api/notes/{note['id']}/").json()["addenda"] == []


def test_a_blank_addendum_is_refused(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    sign(client, note["id"])

    response = client.post(f"/api/notes/{note['id']}/addenda/", {"text": "  "}, format="json")

    assert response.status_code == 400


def test_clinician_cosigns_a_facilitators_signed_note(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    sign(client_for(cast.facilitator), facilitator_note["id"])

    response = client_for(cast.clinician).post(f"/api/notes/{facilitator_note['id']}/cosign/")

    assert response.status_code == 200
    assert response.json()["cosigned_by"]["id"] == cast.clinician.pk
    assert response.json()["cosigned_at"] is not None
    assert len(audit_events(action="cosign")) == 1


def test_a_draft_cannot_be_cosigned(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    response = client_for(cast.clinician).post(f"/api/notes/{facilitator_note['id']}/cosign/")

    assert response.status_code == 409


def test_a_note_is_cosigned_once(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    sign(client_for(cast.facilitator), facilitator_note["id"])
    client = client_for(cast.clinician)
    client.post(f"/api/notes/{facilitator_note['id']}/cosign/")

    assert client.post(f"/api/notes/{facilitator_note['id']}/cosign/").status_code == 409


def test_a_clinicians_own_note_is_not_cosigned(cast: Any, client_for: Any) -> None:
    client = client_for(cast.clinician)
    note = create_note(client, progress_note_body(cast.patient))
    sign(client, note["id"])

    assert client.post(f"/api/notes/{note['id']}/cosign/").status_code == 409


def test_facilitator_cannot_cosign(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    client = client_for(cast.facilitator)
    sign(client, facilitator_note["id"])

    response = client.post(f"/api/notes/{facilitator_note['id']}/cosign/")

    assert response.status_code == 403
    assert Note.objects.get(pk=facilitator_note["id"]).cosigned_by_id is None


def test_clinician_of_another_cohort_cannot_cosign(
    cast: Any, client_for: Any, facilitator_note: dict[str, Any]
) -> None:
    sign(client_for(cast.facilitator), facilitator_note["id"])

    response = client_for(cast.other_clinician).post(f"/api/notes/{facilitator_note['id']}/cosign/")

    assert response.status_code == 404
    assert Note.objects.get(pk=facilitator_note["id"]).cosigned_by_id is None
