"""Note access by the state of the care relationship.

The relationship is made by admins (enrollment, care team) and ends with a discharge
(after the documentation window), a role change, or a removal from the care team. Inside
the window the care team finishes documentation (read, edit drafts, sign, addenda, even a
new note); after any end, nothing but break-the-glass, which only reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from groups.models import Enrollment
from groups.notes.models import Addendum, Note
from tests.notes.conftest import create_note, progress_note_body
from vioip.accounts.models import Role, User

pytestmark = pytest.mark.django_db

REASON = "Readmitted through the ED overnight, need the risk history now"


def _today(cast: Any) -> dt.date:
    return timezone.now().astimezone(ZoneInfo(cast.cohort.timezone)).date()


def _discharge(cast: Any, client_for: Any, *, days_ago: int) -> None:
    enrollment = Enrollment.objects.get(patient=cast.patient, cohort=cast.cohort)
    response = client_for(cast.admin).post(
        f"/api/cohorts/{cast.cohort.pk}/enrollments/{enrollment.pk}/discharge/",
        {
            "reason": "completed",
            "discharged_on": (_today(cast) - dt.timedelta(days=days_ago)).isoformat(),
            "aftercare": {"level": "none"},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()


@dataclass
class Notes:
    draft: int
    signed: int
    psychotherapy: int


@pytest.fixture
def notes(cast: Any, client_for: Any) -> Notes:
    """The care-team clinician's notes about the patient, written while the enrollment is
    active: a draft and a signed progress note, and a psychotherapy note."""
    client = client_for(cast.clinician)
    draft = create_note(client, progress_note_body(cast.patient))["id"]
    signed = create_note(client, progress_note_body(cast.patient))["id"]
    assert client.post(f"/api/notes/{signed}/sign/").status_code == 200
    therapy = {"kind": "psychotherapy", "patient": cast.patient.pk, "text": "Process notes."}
    psychotherapy = create_note(client, therapy)["id"]
    return Notes(draft=draft, signed=signed, psychotherapy=psychotherapy)


def _attempts(client: Any, notes: Notes, cast: Any) -> dict[str, Any]:
    """Every kind of access to the patient's notes, in a fixed order."""
    sections = progress_note_body(cast.patient)["sections"]
    return {
        "read": client.get(f"/api/notes/{notes.signed}/"),
        "read_draft": client.get(f"/api/notes/{notes.draft}/"),
        "read_psychotherapy": client.get(f"/api/notes/{notes.psychotherapy}/"),
        "list": client.get(f"/api/notes/?patient={cast.patient.pk}"),
        "edit": client.patch(f"/api/notes/{notes.draft}/", {"sections": sections}, format="json"),
        "sign": client.post(f"/api/notes/{notes.draft}/sign/"),
        "addendum": client.post(
            f"/api/notes/{notes.signed}/addenda/", {"text": "Late entry."}, format="json"
        ),
        "create": client.post("/api/notes/", progress_note_body(cast.patient), format="json"),
    }


# --- relationship states in which documentation goes on --------------------------------------


def _active(cast: Any, client_for: Any) -> User:
    return cast.clinician


def _discharged_inside_the_window(cast: Any, client_for: Any) -> User:
    _discharge(cast, client_for, days_ago=1)
    return cast.clinician


@pytest.mark.parametrize("state", [_active, _discharged_inside_the_window])
def test_the_care_team_documents_while_the_relationship_lasts(
    cast: Any, client_for: Any, notes: Notes, state: Callable[..., User]
) -> None:
    user = state(cast, client_for)

    got = _attempts(client_for(user), notes, cast)

    assert {k: r.status_code for k, r in got.items()} == {
        "read": 200,
        "read_draft": 200,
        "read_psychotherapy": 200,
        "list": 200,
        "edit": 200,
        "sign": 200,
        "addendum": 201,
        "create": 201,
    }
    listed = {n["id"] for n in got["list"].json()["results"]}
    assert {notes.draft, notes.signed, notes.psychotherapy} <= listed
    assert got["sign"].json()["status"] == "signed"


# --- relationship states in which nothing is left --------------------------------------------


def _discharged_after_the_window(cast: Any, client_for: Any, settings: Any) -> User:
    settings.POST_DISCHARGE_DAYS = 3
    _discharge(cast, client_for, days_ago=5)
    return cast.clinician


def _demoted_to_facilitator(cast: Any, client_for: Any, settings: Any) -> User:
    response = client_for(cast.admin).patch(
        f"/api/users/{cast.clinician.pk}/", {"role": Role.FACILITATOR}, format="json"
    )
    assert response.status_code == 200, response.json()
    return cast.clinician


def _demoted_with_the_membership_left_in_place(cast: Any, client_for: Any, settings: Any) -> User:
    # Even if a clinician membership survived the role change, it no longer matches the
    # user's role and grants nothing.
    User.objects.filter(pk=cast.clinician.pk).update(role=Role.FACILITATOR)
    return cast.clinician


def _removed_from_the_care_team(cast: Any, client_for: Any, settings: Any) -> User:
    response = client_for(cast.admin).delete(
        f"/api/cohorts/{cast.cohort.pk}/staff/{cast.clinician.pk}/"
    )
    assert response.status_code == 204
    return cast.clinician


def _enrollment_refused(cast: Any, client_for: Any, settings: Any) -> User:
    # A clinician of another cohort tries to enroll the patient into their own cohort.
    response = client_for(cast.other_clinician).post(
        f"/api/cohorts/{cast.other_cohort.pk}/enrollments/",
        {"patient": cast.patient.pk, "start_date": _today(cast).isoformat()},
        format="json",
    )
    assert response.status_code == 403
    return cast.other_clinician


ENDED = [
    _discharged_after_the_window,
    _demoted_to_facilitator,
    _demoted_with_the_membership_left_in_place,
    _removed_from_the_care_team,
    _enrollment_refused,
]


@pytest.mark.parametrize("state", ENDED)
def test_nothing_is_left_once_the_relationship_ends(
    cast: Any, client_for: Any, settings: Any, notes: Notes, state: Callable[..., User]
) -> None:
    user = state(cast, client_for, settings)
    # A facilitator may not write a note about one patient at all (403); a clinician
    # outside the patient's care is told no such patient is in their care (400).
    demoted = state in (_demoted_to_facilitator, _demoted_with_the_membership_left_in_place)

    got = _attempts(client_for(user), notes, cast)

    assert {k: r.status_code for k, r in got.items()} == {
        "read": 404,
        "read_draft": 404,
        "read_psychotherapy": 404,
        "list": 200,
        "edit": 404,
        "sign": 404,
        "addendum": 404,
        "create": 403 if demoted else 400,
    }
    for key in ("read", "edit", "sign", "addendum"):
        assert got[key].json() == {"code": "not_found", "detail": "Not found."}
    assert got["list"].json()["count"] == 0
    # Nothing changed: the draft is unsigned, the signed note has no addendum, no new note.
    assert Note.objects.get(pk=notes.draft).status == "draft"
    assert not Addendum.objects.filter(note_id=notes.signed).exists()
    assert Note.objects.filter(patient=cast.patient).count() == 3


@pytest.mark.parametrize("state", ENDED)
def test_each_refusal_is_audited_under_the_patient(
    cast: Any, client_for: Any, settings: Any, notes: Notes, state: Callable[..., User]
) -> None:
    user = state(cast, client_for, settings)
    _attempts(client_for(user), notes, cast)

    response = client_for(cast.auditor).get(
        f"/api/audit/?patient={cast.patient.pk}&action=denied&actor={user.pk}&page_size=100"
    )

    assert response.status_code == 200
    denied = sorted((e["object_id"], e["detail"]["attempted"]) for e in response.json()["results"])
    assert denied == sorted(
        [
            (str(notes.signed), "read"),
            (str(notes.draft), "read"),
            (str(notes.psychotherapy), "read"),
            (str(notes.draft), "update"),
            (str(notes.draft), "sign"),
            (str(notes.signed), "amend"),
        ]
    )
    assert all(e["outcome"] == "denied" for e in response.json()["results"])


def test_the_window_closes_with_time(cast: Any, client_for: Any, notes: Notes) -> None:
    _discharge(cast, client_for, days_ago=0)
    url = f"/api/notes/{notes.signed}/"
    start = timezone.now()
    with time_machine.travel(start + dt.timedelta(days=29), tick=False):
        assert client_for(cast.clinician).get(url).status_code == 200
    with time_machine.travel(start + dt.timedelta(days=32), tick=False):
        assert client_for(cast.clinician).get(url).status_code == 404
        body = progress_note_body(cast.patient)
        assert (
            client_for(cast.clinician).post("/api/notes/", body, format="json").status_code == 400
        )


# --- break-the-glass --------------------------------------------------------------------------


def test_break_the_glass_reopens_progress_notes_for_reading_only(
    cast: Any, client_for: Any, settings: Any, notes: Notes
) -> None:
    _discharged_after_the_window(cast, client_for, settings)
    client = client_for(cast.clinician)
    assert client.get(f"/api/notes/{notes.signed}/").status_code == 404

    granted = client.post(
        "/api/notes/emergency-access/",
        {"patient": cast.patient.pk, "reason": REASON},
        format="json",
    )

    assert granted.status_code == 201
    grant_id = granted.json()["id"]
    got = _attempts(client, notes, cast)
    assert {k: r.status_code for k, r in got.items()} == {
        "read": 200,
        "read_draft": 200,
        # Never psychotherapy notes, not even for their author.
        "read_psychotherapy": 404,
        "list": 200,
        "edit": 404,
        "sign": 404,
        "addendum": 404,
        "create": 400,
    }
    assert got["read"].json()["emergency_grant"] == grant_id
    assert {n["id"] for n in got["list"].json()["results"]} == {notes.draft, notes.signed}
    trail = (
        client_for(cast.auditor)
        .get(f"/api/audit/?patient={cast.patient.pk}&actor={cast.clinician.pk}&page_size=100")
        .json()["results"]
    )
    assert [e["detail"]["grant"] for e in trail if e["action"] == "emergency_access"] == [grant_id]
    reads = [e for e in trail if e["action"] == "read"]
    assert reads and all(e["detail"]["emergency_grant"] == grant_id for e in reads)
    denied = {e["detail"]["attempted"] for e in trail if e["action"] == "denied"}
    assert denied == {"read", "update", "sign", "amend"}


def test_break_the_glass_never_opens_a_write_for_an_outside_clinician(
    cast: Any, client_for: Any, notes: Notes
) -> None:
    client = client_for(cast.outsider)
    assert (
        client.post(
            "/api/notes/emergency-access/",
            {"patient": cast.patient.pk, "reason": REASON},
            format="json",
        ).status_code
        == 201
    )

    got = _attempts(client, notes, cast)

    assert got["read"].status_code == 200
    assert [got[k].status_code for k in ("edit", "sign", "addendum", "create")] == [
        404,
        404,
        404,
        400,
    ]
