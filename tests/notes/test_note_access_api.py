"""Who may see which note: every rule, with the roles that must be refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import CareTeamFactory, EnrollmentFactory, UserFactory
from tests.notes.conftest import audit_events, create_note, group_note_body, progress_note_body
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def group_note(cast: Any, client_for: Any, group_session: Any) -> dict[str, Any]:
    return create_note(client_for(cast.facilitator), group_note_body(group_session, cast.patient))


@pytest.fixture
def progress_note(cast: Any, client_for: Any) -> dict[str, Any]:
    return create_note(client_for(cast.clinician), progress_note_body(cast.patient))


@pytest.fixture
def psychotherapy_note(cast: Any, client_for: Any) -> dict[str, Any]:
    body = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}
    return create_note(client_for(cast.clinician), body)


def test_cohort_facilitator_and_clinician_read_a_group_note(
    cast: Any, client_for: Any, group_note: dict[str, Any]
) -> None:
    for user in (cast.facilitator, cast.clinician):
        response = client_for(user).get(f"/api/notes/{group_note['id']}/")
        assert response.status_code == 200
        assert response.json()["shared"]["topic"] == group_note["shared"]["topic"]


def test_care_team_clinician_reads_a_progress_note_written_by_a_colleague(
    cast: Any, client_for: Any, progress_note: dict[str, Any]
) -> None:
    colleague = UserFactory(role=Role.CLINICIAN)
    CareTeamFactory(cohort=cast.cohort, user=colleague, role="clinician")

    response = client_for(colleague).get(f"/api/notes/{progress_note['id']}/")

    assert response.status_code == 200
    assert response.json()["sections"] == progress_note["sections"]


def test_clinician_of_a_later_cohort_reads_the_patients_earlier_progress_notes(
    cast: Any, client_for: Any, progress_note: dict[str, Any]
) -> None:
    EnrollmentFactory(cohort=cast.other_cohort, patient=cast.patient)

    response = client_for(cast.other_clinician).get(f"/api/notes/{progress_note['id']}/")

    assert response.status_code == 200


def test_facilitator_cannot_read_a_progress_note(
    cast: Any, client_for: Any, progress_note: dict[str, Any]
) -> None:
    response = client_for(cast.facilitator).get(f"/api/notes/{progress_note['id']}/")

    assert response.status_code == 404


@pytest.mark.parametrize("who", ["other_clinician", "outsider"])
def test_staff_outside_the_care_team_get_not_found(
    cast: Any, client_for: Any, group_note: dict[str, Any], progress_note: dict[str, Any], who: str
) -> None:
    client = client_for(getattr(cast, who))
    for note in (group_note, progress_note):
        response = client.get(f"/api/notes/{note['id']}/")
        assert response.status_code == 404
        assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_a_refused_read_is_audited_as_denied_with_the_patient(
    cast: Any, client_for: Any, progress_note: dict[str, Any]
) -> None:
    client_for(cast.outsider).get(f"/api/notes/{progress_note['id']}/")

    [event] = audit_events(action="denied", actor=cast.outsider)
    assert event.outcome == "denied"
    assert event.object_id == str(progress_note["id"])
    assert event.patient_id == cast.patient.pk


def test_a_missing_note_answers_like_a_forbidden_one(cast: Any, client_for: Any) -> None:
    response = client_for(cast.clinician).get("/api/notes/999999/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert len(audit_events(action="denied", object_id="999999")) == 1


@pytest.mark.parametrize("role", ["admin", "auditor", "patient"])
def test_roles_without_clinical_access_are_refused_every_note_endpoint(
    cast: Any, client_for: Any, progress_note: dict[str, Any], role: str
) -> None:
    client = client_for(getattr(cast, role))
    note_url = f"/api/notes/{progress_note['id']}/"
    calls = [
        client.get("/api/notes/"),
        client.get(note_url),
        client.patch(note_url, {"text": "x"}, format="json"),
        client.post(f"{note_url}sign/"),
        client.post(f"{note_url}cosign/"),
        client.post(f"{note_url}addenda/", {"text": "x"}, format="json"),
        client.get("/api/notes/overdue/"),
        client.post("/api/notes/emergency-access/", {}, format="json"),
    ]

    for response in calls:
        assert response.status_code == 403
        assert set(response.json()) == {"code", "detail"}
    denied = audit_events(action="denied", actor=getattr(cast, role))
    assert len(denied) == len(calls)
    assert denied[1].patient_id == cast.patient.pk


def test_psychotherapy_note_is_visible_to_its_author_alone(
    cast: Any, client_for: Any, psychotherapy_note: dict[str, Any]
) -> None:
    colleague = UserFactory(role=Role.CLINICIAN)
    CareTeamFactory(cohort=cast.cohort, user=colleague, role="clinician")
    url = f"/api/notes/{psychotherapy_note['id']}/"

    assert client_for(cast.clinician).get(url).status_code == 200
    for user in (colleague, cast.facilitator, cast.other_clinician, cast.outsider):
        assert client_for(user).get(url).status_code == 404
        assert client_for(user).get("/api/notes/").json()["count"] == 0


def test_psychotherapy_note_cannot_be_edited_by_a_care_team_colleague(
    cast: Any, client_for: Any, psychotherapy_note: dict[str, Any]
) -> None:
    colleague = UserFactory(role=Role.CLINICIAN)
    CareTeamFactory(cohort=cast.cohort, user=colleague, role="clinician")

    response = client_for(colleague).patch(
        f"/api/notes/{psychotherapy_note['id']}/", {"text": "changed"}, format="json"
    )

    assert response.status_code == 404


def test_list_shows_only_what_the_caller_may_see(
    cast: Any,
    client_for: Any,
    group_note: dict[str, Any],
    progress_note: dict[str, Any],
    psychotherapy_note: dict[str, Any],
) -> None:
    other = create_note(client_for(cast.other_clinician), progress_note_body(cast.other_patient))

    def ids(user: Any, query: str = "") -> set[int]:
        return {n["id"] for n in client_for(user).get(f"/api/notes/{query}").json()["results"]}

    assert ids(cast.clinician) == {group_note["id"], progress_note["id"], psychotherapy_note["id"]}
    assert ids(cast.facilitator) == {group_note["id"]}
    assert ids(cast.other_clinician) == {other["id"]}
    assert ids(cast.outsider) == set()


def test_list_filters_by_kind_patient_session_status_and_date(
    cast: Any,
    client_for: Any,
    group_session: Any,
    group_note: dict[str, Any],
    progress_note: dict[str, Any],
) -> None:
    def ids(query: str) -> list[int]:
        response = client_for(cast.clinician).get(f"/api/notes/?{query}")
        assert response.status_code == 200, response.json()
        return sorted(n["id"] for n in response.json()["results"])

    assert ids("kind=group") == [group_note["id"]]
    assert ids(f"patient={cast.patient.pk}") == sorted([group_note["id"], progress_note["id"]])
    assert ids(f"patient={cast.other_patient.pk}") == []
    assert ids(f"session={group_session.pk}") == [group_note["id"]]
    assert ids(f"cohort={cast.cohort.pk}&status=draft") == sorted(
        [group_note["id"], progress_note["id"]]
    )
    assert ids("status=signed") == []
    assert ids("from=2000-01-01&to=2000-12-31") == []


def test_list_with_a_bad_date_is_refused(cast: Any, client_for: Any) -> None:
    response = client_for(cast.clinician).get("/api/notes/?from=yesterday")

    assert response.status_code == 400
    assert "from" in response.json()["fields"]


@pytest.mark.parametrize("who", ["other_clinician", "outsider"])
def test_staff_outside_the_care_team_cannot_change_a_note(
    cast: Any, client_for: Any, progress_note: dict[str, Any], who: str
) -> None:
    client = client_for(getattr(cast, who))
    url = f"/api/notes/{progress_note['id']}/"

    responses = [
        client.patch(url, {"sections": progress_note["sections"]}, format="json"),
        client.post(f"{url}sign/"),
        client.post(f"{url}cosign/"),
        client.post(f"{url}addenda/", {"text": "x"}, format="json"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    denied = audit_events(action="denied", actor=getattr(cast, who))
    assert [e.detail["attempted"] for e in denied] == ["update", "sign", "cosign", "amend"]
    assert all(e.patient_id == cast.patient.pk for e in denied)
    assert client_for(cast.clinician).get(url).json()["status"] == "draft"
