"""Writes of clinical notes. Every write is audited with the patient(s) it concerns; audit
details carry ids and codes only, never what was written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied, ValidationError

from groups.models import Enrollment, StaffRole
from groups.notes.models import (
    FORMAT_SECTIONS,
    Addendum,
    EmergencyAccessGrant,
    GroupNoteEntry,
    Note,
    NoteKind,
    NoteStatus,
    RiskLevel,
)
from groups.selectors import is_cohort_staff, is_in_care_of, patient_ids_in_care_of
from sessions_app.attendance.models import AttendanceAdjustment
from sessions_app.models import Session, SessionKind, SessionStatus
from sessions_app.rooms.models import AttendanceSegment
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import Conflict

EMERGENCY_ACCESS_MINUTES = 60
EMERGENCY_REASON_MIN_LENGTH = 20
SHARED_FIELDS = ("topic", "interventions", "themes")
ENTRY_TEXT_FIELDS = ("participation", "progress", "mood", "follow_up")

NAMES_PATIENT = (
    "The shared part must not name patients: it names a patient of this cohort. "
    "Write what concerns one patient in that patient's entry."
)


# --- attendance -------------------------------------------------------------------------------


def attended_patient_ids(*, session: Session) -> set[int]:
    """Patients who may have an entry in ``session``'s group note: those the room measured
    (an attendance segment) and those a clinician credited with an attendance adjustment
    (e.g. joined by phone when the room failed). Waiting-room time is never a segment.
    """
    present = AttendanceSegment.objects.filter(session_id=session.pk).values("user_id")
    credited = AttendanceAdjustment.objects.filter(session_id=session.pk).values("patient_id")
    return set(
        User.objects.filter(role=Role.PATIENT)
        .filter(Q(pk__in=present) | Q(pk__in=credited))
        .values_list("pk", flat=True)
    )


# --- helpers ----------------------------------------------------------------------------------


def _patient_names(cohort_id: int) -> set[str]:
    patients = User.objects.filter(
        role=Role.PATIENT,
        id__in=Enrollment.objects.filter(cohort_id=cohort_id).values("patient_id"),
    ).values_list("first_name", "last_name")
    names: set[str] = set()
    for first, last in patients:
        for name in (first, last, f"{first} {last}"):
            name = name.strip()
            if len(name) >= 2:
                names.add(name)
    return names


def _check_shared_names(*, cohort_id: int, shared: dict[str, str]) -> None:
    texts = {k: v for k, v in shared.items() if v}
    if not texts:
        return
    names = _patient_names(cohort_id)
    if not names:
        return
    pattern = re.compile(
        r"(?<!\w)(?:" + "|".join(re.escape(n) for n in sorted(names, key=len)) + r")(?!\w)",
        re.IGNORECASE,
    )
    named = {k: [NAMES_PATIENT] for k, v in texts.items() if pattern.search(v)}
    if named:
        raise ValidationError({"shared": named})


def _validate_entries(*, session: Session, entries: list[dict[str, Any]]) -> None:
    seen: set[int] = set()
    errors: dict[str, list[str]] = {}
    attended = attended_patient_ids(session=session)
    for index, entry in enumerate(entries):
        patient_id = entry["patient"]
        if patient_id in seen:
            errors[str(index)] = ["This patient already has an entry in this note."]
        elif patient_id not in attended:
            errors[str(index)] = ["This patient did not attend the session."]
        elif entry.get("risk") == RiskLevel.HIGH and not (entry.get("follow_up") or "").strip():
            errors[str(index)] = ["A high risk needs a follow-up."]
        seen.add(patient_id)
    if errors:
        raise ValidationError({"entries": errors})


def _validate_sections(*, fmt: str, sections: dict[str, Any]) -> dict[str, str]:
    required = FORMAT_SECTIONS[fmt]
    errors: dict[str, list[str]] = {}
    for key in sections:
        if key not in required:
            errors[key] = [f"Not a section of a {fmt} note (sections: {', '.join(required)})."]
    for key in required:
        value = sections.get(key)
        if not isinstance(value, str) or not value.strip():
            errors.setdefault(key, ["This section is required."])
    if errors:
        raise ValidationError({"sections": errors})
    return {key: sections[key] for key in required}


def _entry_patients(note: Note) -> list[int]:
    return sorted(note.entries.values_list("patient_id", flat=True))


def _audit(*, action: str, actor: User, note: Note, **detail: Any) -> None:
    """One event per patient the note concerns (a group note: each patient with an entry;
    one event without a patient when it has none)."""
    info: dict[str, Any] = {"kind": note.kind, **detail}
    patients: list[int | None] = [note.patient_id]
    if note.kind == NoteKind.GROUP:
        info["patients"] = _entry_patients(note)
        patients = list(info["patients"]) or [None]
    audit.record_many(
        {
            "action": action,
            "actor": actor,
            "object_type": "note",
            "object_id": note.pk,
            "patient": patient_id,
            "detail": info,
        }
        for patient_id in patients
    )


def _replace_entries(note: Note, entries: list[dict[str, Any]]) -> None:
    note.entries.all().delete()
    GroupNoteEntry.objects.bulk_create(
        GroupNoteEntry(
            note=note,
            patient_id=e["patient"],
            risk=e.get("risk") or RiskLevel.NONE,
            **{f: e.get(f) or "" for f in ENTRY_TEXT_FIELDS},
        )
        for e in entries
    )


def note_content(note: Note) -> dict[str, Any]:
    """What a signature covers, in a canonical form."""
    return {
        "id": note.pk,
        "kind": note.kind,
        "cohort": note.cohort_id,
        "session": note.session_id,
        "patient": note.patient_id,
        "author": note.author_id,
        "occurred_at": note.occurred_at.isoformat(),
        "shared": {f: getattr(note, f) for f in SHARED_FIELDS},
        "format": note.format,
        "sections": note.sections,
        "text": note.text,
        "entries": [
            {
                "patient": e.patient_id,
                "risk": e.risk,
                **{f: getattr(e, f) for f in ENTRY_TEXT_FIELDS},
            }
            for e in note.entries.order_by("patient_id")
        ],
        "signed_by": note.signed_by_id,
        "signed_at": note.signed_at.isoformat() if note.signed_at else None,
    }


def _digest(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def note_content_hash(note: Note) -> str:
    return _digest(note_content(note))


# --- create -----------------------------------------------------------------------------------


@transaction.atomic
def group_note_create(
    *,
    author: User,
    session: Session,
    shared: dict[str, str],
    entries: list[dict[str, Any]],
) -> Note:
    """A group session's note, by its cohort's facilitator or clinician (the caller has
    already checked the session is visible to ``author``)."""
    if not is_cohort_staff(user=author, cohort_id=session.cohort_id):
        raise ValidationError({"session": ["You are not on this session's care team."]})
    if session.kind != SessionKind.GROUP_THERAPY:
        raise ValidationError({"session": ["A group note is written for a group session."]})
    if session.status == SessionStatus.CANCELLED:
        raise ValidationError({"session": ["This session was cancelled."]})
    shared = {f: shared.get(f) or "" for f in SHARED_FIELDS}
    _check_shared_names(cohort_id=session.cohort_id, shared=shared)
    _validate_entries(session=session, entries=entries)
    try:
        with transaction.atomic():
            note = Note.objects.create(
                kind=NoteKind.GROUP,
                cohort_id=session.cohort_id,
                session=session,
                author=author,
                occurred_at=session.starts_at,
                **shared,
            )
    except IntegrityError:
        raise Conflict("This session already has a group note.") from None
    _replace_entries(note, entries)
    _audit(action=Action.CREATE, actor=author, note=note)
    return note


def _patient_cohort_id(*, author: User, patient_id: int, session: Session | None) -> int:
    """The cohort a new note about ``patient_id`` belongs to: one where ``author`` is on the
    care team as a clinician and the patient is in that care (an active enrollment, or a
    discharge inside the documentation window: finishing documentation is allowed, nothing
    after it). Emergency grants never count: they are read-only."""
    # The enrollments that make the relationship, from its one definition.
    relationship = patient_ids_in_care_of(user=author, roles=[StaffRole.CLINICIAN]).filter(
        patient_id=patient_id
    )
    if author.role != Role.CLINICIAN or not relationship.exists():
        # Same answer for an unknown patient and one outside the care team.
        raise ValidationError({"patient": ["No patient in your care has this id."]})
    if session is not None:
        if (
            session.patient_id not in (None, patient_id)
            or not relationship.filter(cohort_id=session.cohort_id).exists()
        ):
            raise ValidationError({"session": ["This session is not one of the patient's."]})
        return session.cohort_id
    # An active enrollment first ("active" sorts before "discharged"), else the latest
    # discharge.
    cohort_id = (
        relationship.order_by(
            "status", F("discharged_on").desc(nulls_last=True), "-start_date", "-id"
        )
        .values_list("cohort_id", flat=True)
        .first()
    )
    assert cohort_id is not None  # noqa: S101 - the relationship exists
    return int(cohort_id)


def _patient_note_create(
    *,
    kind: str,
    author: User,
    patient_id: int,
    session: Session | None,
    **content: Any,
) -> Note:
    if author.role != Role.CLINICIAN:
        raise PermissionDenied("Only clinicians write notes about one patient.")
    cohort_id = _patient_cohort_id(author=author, patient_id=patient_id, session=session)
    note = Note.objects.create(
        kind=kind,
        cohort_id=cohort_id,
        session=session,
        patient_id=patient_id,
        author=author,
        occurred_at=session.starts_at if session else timezone.now(),
        **content,
    )
    _audit(action=Action.CREATE, actor=author, note=note)
    return note


@transaction.atomic
def progress_note_create(
    *,
    author: User,
    patient_id: int,
    fmt: str,
    sections: dict[str, Any],
    session: Session | None = None,
) -> Note:
    clean = _validate_sections(fmt=fmt, sections=sections)
    return _patient_note_create(
        kind=NoteKind.PROGRESS,
        author=author,
        patient_id=patient_id,
        session=session,
        format=fmt,
        sections=json.dumps(clean),
    )


@transaction.atomic
def psychotherapy_note_create(
    *,
    author: User,
    patient_id: int,
    text: str,
    session: Session | None = None,
) -> Note:
    if not text.strip():
        raise ValidationError({"text": ["This field may not be blank."]})
    return _patient_note_create(
        kind=NoteKind.PSYCHOTHERAPY,
        author=author,
        patient_id=patient_id,
        session=session,
        text=text,
    )


# --- change -----------------------------------------------------------------------------------


def _locked(note: Note) -> Note:
    # Re-read under a row lock: two signers or an edit racing a signature see one order.
    return (
        Note.objects.select_for_update(of=("self",))
        .select_related("author", "session")
        .get(pk=note.pk)
    )


def _require_draft(note: Note) -> None:
    if note.status != NoteStatus.DRAFT:
        raise Conflict("A signed note cannot be changed; add an addendum instead.")


@transaction.atomic
def note_update(*, note: Note, actor: User, changes: dict[str, Any]) -> Note:
    """Edit a draft (found by ``note_get_for_write``). Group notes take ``shared``
    (partial) and ``entries`` (the whole list); progress notes ``format`` and ``sections``
    (the whole set); psychotherapy notes ``text``. Anything else is refused."""
    note = _locked(note)
    _require_draft(note)
    allowed = {
        NoteKind.GROUP: {"shared", "entries"},
        NoteKind.PROGRESS: {"format", "sections"},
        NoteKind.PSYCHOTHERAPY: {"text"},
    }[NoteKind(note.kind)]
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({k: [f"Not a field of a {note.kind} note."] for k in unknown})
    fields: list[str] = []
    if note.kind == NoteKind.GROUP:
        if "shared" in changes:
            merged = {f: changes["shared"].get(f, getattr(note, f)) or "" for f in SHARED_FIELDS}
            _check_shared_names(cohort_id=note.cohort_id, shared=merged)
            for f in SHARED_FIELDS:
                setattr(note, f, merged[f])
            fields += list(SHARED_FIELDS)
        if "entries" in changes:
            assert note.session is not None  # noqa: S101 - group notes always have one
            _validate_entries(session=note.session, entries=changes["entries"])
            _replace_entries(note, changes["entries"])
    elif note.kind == NoteKind.PROGRESS:
        if "sections" not in changes:
            raise ValidationError({"sections": ["Send the note's sections."]})
        fmt = changes.get("format") or note.format
        note.format = fmt
        note.sections = json.dumps(_validate_sections(fmt=fmt, sections=changes["sections"]))
        fields += ["format", "sections"]
    else:
        if not (changes.get("text") or "").strip():
            raise ValidationError({"text": ["This field may not be blank."]})
        note.text = changes["text"]
        fields.append("text")
    note.save(update_fields=[*fields, "updated_at"])
    _audit(action=Action.UPDATE, actor=actor, note=note, changed=sorted(changes))
    return note


@transaction.atomic
def note_sign(*, note: Note, actor: User) -> Note:
    """Sign a draft: by its author only. The stored hash covers the content and signature."""
    note = _locked(note)
    if note.author_id != actor.pk:
        raise PermissionDenied("Only the author signs a note; a clinician may co-sign it.")
    _require_draft(note)
    if note.kind == NoteKind.GROUP:
        _check_shared_names(
            cohort_id=note.cohort_id, shared={f: getattr(note, f) for f in SHARED_FIELDS}
        )
    note.status = NoteStatus.SIGNED
    note.signed_by = actor
    note.signed_at = timezone.now()
    note.content_hash = note_content_hash(note)
    note.save(update_fields=["status", "signed_by", "signed_at", "content_hash", "updated_at"])
    _audit(action=Action.SIGN, actor=actor, note=note)
    return note


@transaction.atomic
def note_cosign(*, note: Note, actor: User) -> Note:
    """A clinician of the note's cohort countersigns a facilitator's signed note."""
    note = _locked(note)
    if actor.role != Role.CLINICIAN or not is_cohort_staff(
        user=actor, cohort_id=note.cohort_id, roles=[StaffRole.CLINICIAN]
    ):
        raise PermissionDenied("Only a clinician of this cohort's care team co-signs.")
    if note.author.role != Role.FACILITATOR:
        raise Conflict("Only a facilitator's note is co-signed.")
    if note.status != NoteStatus.SIGNED:
        raise Conflict("The author signs a note before it is co-signed.")
    if note.cosigned_by_id is not None:
        raise Conflict("This note is already co-signed.")
    note.cosigned_by = actor
    note.cosigned_at = timezone.now()
    note.save(update_fields=["cosigned_by", "cosigned_at", "updated_at"])
    _audit(action=Action.COSIGN, actor=actor, note=note)
    return note


@transaction.atomic
def addendum_create(*, note: Note, actor: User, text: str) -> Addendum:
    """Correct a signed note: the addendum is signed as it is written and kept in order."""
    note = _locked(note)
    if note.status != NoteStatus.SIGNED:
        raise Conflict("A draft is edited, not amended: addenda are for signed notes.")
    if not text.strip():
        raise ValidationError({"text": ["This field may not be blank."]})
    now = timezone.now()
    addendum = Addendum(note=note, author=actor, text=text, signed_at=now)
    addendum.content_hash = _digest(
        {
            "note": note.pk,
            "note_hash": note.content_hash,
            "author": actor.pk,
            "signed_at": now.isoformat(),
            "text": text,
        }
    )
    addendum.save(force_insert=True)
    _audit(action=Action.AMEND, actor=actor, note=note, addendum=addendum.pk)
    return addendum


# --- break the glass --------------------------------------------------------------------------


@transaction.atomic
def emergency_access_grant(
    *, clinician: User, patient_id: int, reason: str
) -> EmergencyAccessGrant:
    """Let a clinician outside the care team read one patient's notes (not psychotherapy
    notes) for ``EMERGENCY_ACCESS_MINUTES``. The reason is kept encrypted; the audit event
    carries the grant's id for the privacy officer's review."""
    if clinician.role != Role.CLINICIAN:
        raise PermissionDenied("Only clinicians may use emergency access.")
    reason = reason.strip()
    if len(reason) < EMERGENCY_REASON_MIN_LENGTH:
        raise ValidationError(
            {"reason": [f"Give the reason in at least {EMERGENCY_REASON_MIN_LENGTH} characters."]}
        )
    if not User.objects.filter(pk=patient_id, role=Role.PATIENT).exists():
        raise ValidationError({"patient": ["No patient has this id."]})
    if is_in_care_of(user=clinician, patient_id=patient_id, roles=[StaffRole.CLINICIAN]):
        raise ValidationError(
            {"patient": ["You are on this patient's care team: emergency access is not needed."]}
        )
    now = timezone.now()
    grant = EmergencyAccessGrant.objects.create(
        clinician=clinician,
        patient_id=patient_id,
        reason=reason,
        granted_at=now,
        expires_at=now + dt.timedelta(minutes=EMERGENCY_ACCESS_MINUTES),
    )
    audit.record(
        action=Action.EMERGENCY_ACCESS,
        actor=clinician,
        object_type="emergency_access_grant",
        object_id=grant.pk,
        patient=patient_id,
        detail={"grant": grant.pk, "expires_at": grant.expires_at.isoformat()},
    )
    return grant
