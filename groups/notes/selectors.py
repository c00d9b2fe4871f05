"""Reads of clinical notes: the only code that queries the note models for a caller.

Access follows the care relationship defined once in ``groups.selectors`` (a care-team
membership whose role matches the user's current role, in a cohort where the patient has
an active enrollment or one discharged inside the documentation window,
``VIOIP_POST_DISCHARGE_DAYS``). Nobody grants it to themselves: admins make enrollments
and care teams.

Who sees (and, for the first three, writes) what:
- a psychotherapy note: its author alone, and only while the author is a clinician with
  the patient in their care. Authorship alone grants nothing: a demoted or deactivated
  author, one removed from the care team, or one whose documentation window has closed
  loses the note like everyone else (nobody else ever had it; break-the-glass never opens
  it);
- a group note: the current care team (facilitators and clinicians) of its cohort; its
  author while still on that team. A group note is the cohort's record of a session;
- a progress note: the clinicians with the patient in their care (active enrollment, or
  discharged inside the documentation window: read, edit drafts, sign, co-sign, add
  addenda, so documentation can be finished; after the window, nothing);
- a clinician with a live emergency grant for a patient (break-the-glass: reason, time
  limit, audit): that patient's progress notes and the group notes with an entry for them
  (that entry only), read-only. Grants never open a note for writing;
- patients: their own signed progress notes and their own entries of signed group notes,
  only through ``patient_record_notes``; admins and auditors: nothing.

One door per record: ``note_for_user`` (read) and ``note_for_write`` (change) return the
note or raise ``NotVisible`` for missing and forbidden notes alike; the API's exception
handler answers 404 and audits the denial. Every read is audited here, one event per
patient the note concerns (a group note: one per entry the reader sees; a list or the
overdue list: one per note and patient on the page), so ``GET /api/audit/?patient=N``
finds every read of patient N's notes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from groups.models import StaffRole
from groups.notes.models import (
    EmergencyAccessGrant,
    GroupNoteEntry,
    Note,
    NoteKind,
    NoteStatus,
)
from groups.selectors import patient_ids_in_care_of, staff_cohort_ids
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action
from vioip.core.errors import NotVisible, audit_not_visible


@dataclass
class NoteView:
    """A note as one caller may see it: which entries, and under which emergency grants."""

    note: Note
    entries: list[GroupNoteEntry] = field(default_factory=list)
    # Patient id -> the emergency grant the caller reads that patient's part under.
    grants: dict[int, int] = field(default_factory=dict)

    @property
    def grant_id(self) -> int | None:
        """The grant the note is read under (the first, for a group note)."""
        return next(iter(self.grants.values()), None)

    @property
    def patient_ids(self) -> list[int | None]:
        """The patients this view of the note concerns (``[None]`` for a group note
        without an entry the caller sees: the read is still recorded)."""
        if self.note.patient_id is not None:
            return [self.note.patient_id]
        return [e.patient_id for e in self.entries] or [None]


def _is_staff(user: User) -> bool:
    return bool(user.role in (Role.FACILITATOR, Role.CLINICIAN))


def active_grants(*, user: User) -> QuerySet[EmergencyAccessGrant]:
    """The door to emergency grants: a clinician's own grants that have not expired."""
    if user.role != Role.CLINICIAN:
        return EmergencyAccessGrant.objects.none()
    return EmergencyAccessGrant.objects.filter(clinician_id=user.pk, expires_at__gt=timezone.now())


def _care_q(user: User) -> Q:
    """Notes ``user`` may read and write through the care relationship (never a grant)."""
    if not _is_staff(user):
        return Q(pk__in=[])
    q = Q(kind=NoteKind.GROUP, cohort_id__in=staff_cohort_ids(user=user))
    if user.role == Role.CLINICIAN:
        # documentation=True: active enrollments and discharges inside the window.
        in_care = patient_ids_in_care_of(user=user, roles=[StaffRole.CLINICIAN])
        q |= Q(kind=NoteKind.PROGRESS, patient_id__in=in_care)
        q |= Q(kind=NoteKind.PSYCHOTHERAPY, author_id=user.pk, patient_id__in=in_care)
    return q


def _grant_q(granted_patient_ids: set[int]) -> Q:
    if not granted_patient_ids:
        return Q(pk__in=[])
    return Q(kind=NoteKind.PROGRESS, patient_id__in=granted_patient_ids) | Q(
        kind=NoteKind.GROUP, entries__patient_id__in=granted_patient_ids
    )


def _writable(*, user: User) -> QuerySet[Note]:
    return Note.objects.filter(_care_q(user))


def _with_related(qs: QuerySet[Note]) -> QuerySet[Note]:
    return qs.select_related(
        "author", "signed_by", "cosigned_by", "session", "patient"
    ).prefetch_related(
        Prefetch(
            "entries",
            queryset=GroupNoteEntry.objects.select_related("patient").order_by("patient_id"),
        ),
        "addenda__author",
    )


def _grants_by_patient(user: User) -> dict[int, int]:
    return {
        patient_id: grant_id
        for grant_id, patient_id in active_grants(user=user)
        .order_by("granted_at", "id")
        .values_list("id", "patient_id")
    }


def _view(note: Note, *, care_ids: set[int], grants: dict[int, int]) -> NoteView | None:
    entries = list(note.entries.all())
    if note.pk in care_ids:
        return NoteView(note=note, entries=entries)
    # Read only through an emergency grant: only the granted patients' parts (None: the
    # grant ran out between the visibility check and the read).
    if note.kind == NoteKind.PROGRESS:
        if note.patient_id not in grants:
            return None
        return NoteView(note=note, grants={note.patient_id: grants[note.patient_id]})
    visible = [e for e in entries if e.patient_id in grants]
    if note.kind != NoteKind.GROUP or not visible:
        return None
    return NoteView(
        note=note, entries=visible, grants={e.patient_id: grants[e.patient_id] for e in visible}
    )


def _read_events(view: NoteView, *, user: User, via: str) -> Iterator[dict[str, Any]]:
    """One read event per patient the view concerns."""
    base: dict[str, Any] = {"kind": view.note.kind, "via": via}
    if view.note.kind == NoteKind.GROUP:
        base["patients"] = [e.patient_id for e in view.entries]
    for patient_id in view.patient_ids:
        detail = dict(base)
        grant_id = view.grants.get(patient_id) if patient_id is not None else None
        if grant_id is not None:
            detail["emergency_grant"] = grant_id
        yield {
            "action": Action.READ,
            "actor": user,
            "object_type": "note",
            "object_id": view.note.pk,
            "patient": patient_id,
            "detail": detail,
        }


@dataclass
class NoteFilters:
    patient: int | None = None
    session: int | None = None
    cohort: int | None = None
    kind: str | None = None
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


def _filtered(qs: QuerySet[Note], filters: NoteFilters) -> QuerySet[Note]:
    if filters.patient is not None:
        qs = qs.filter(
            Q(patient_id=filters.patient)
            | Q(pk__in=GroupNoteEntry.objects.filter(patient_id=filters.patient).values("note_id"))
        )
    if filters.session is not None:
        qs = qs.filter(session_id=filters.session)
    if filters.cohort is not None:
        qs = qs.filter(cohort_id=filters.cohort)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.date_from is not None:
        qs = qs.filter(occurred_at__date__gte=filters.date_from)
    if filters.date_to is not None:
        qs = qs.filter(occurred_at__date__lte=filters.date_to)
    return qs


def notes_visible_to(*, user: User, filters: NoteFilters | None = None) -> QuerySet[Note]:
    """Ids-level visibility (no auditing): for lists, counts and pagination. What is
    shown of each note goes through ``note_views_for``, which audits it."""
    grants = _grants_by_patient(user)
    visible = Note.objects.filter(_care_q(user) | _grant_q(set(grants)))
    # The grant clause joins entries; select ids first so each note appears once.
    qs = Note.objects.filter(pk__in=visible.values("pk"))
    return _filtered(qs, filters or NoteFilters())


def note_views_for(
    *, user: User, notes: Iterable[Note], via: str | None = "list"
) -> list[NoteView]:
    """Views of notes already limited by ``notes_visible_to``, each read audited once per
    patient it concerns (``via=None``: the note is shown back after a write whose own
    event covers it)."""
    ids = [n.pk for n in notes]
    if not ids:
        return []
    care_ids = set(Note.objects.filter(_care_q(user), pk__in=ids).values_list("pk", flat=True))
    grants = _grants_by_patient(user) if len(care_ids) < len(ids) else {}
    loaded = _with_related(Note.objects.filter(pk__in=ids)).in_bulk()
    views = [
        view
        for view in (_view(loaded[i], care_ids=care_ids, grants=grants) for i in ids if i in loaded)
        if view is not None
    ]
    if via is not None:
        # Appended together: a page costs one chain lock whatever its length.
        audit.record_many(event for v in views for event in _read_events(v, user=user, via=via))
    return views


def _note_pk(note_id: Any) -> int | None:
    try:
        return int(note_id)
    except (TypeError, ValueError):
        return None


def note_refusal(*, note_id: Any, attempted: str) -> NotVisible:
    """The ``NotVisible`` for a note id: names the note's patient when the note exists and
    has one (the denial is then found under that patient in the audit trail)."""
    pk = _note_pk(note_id)
    patient_id = None
    if pk is not None:
        patient_id = Note.objects.filter(pk=pk).values_list("patient_id", flat=True).first()
    return NotVisible(
        object_type="note",
        object_id=pk if pk is not None else str(note_id)[:64],
        patient=patient_id,
        attempted=attempted,
    )


def note_for_user(*, user: User, note_id: Any, after_write: bool = False) -> NoteView:
    """The door for reading a note: the note as ``user`` may see it, audited as a read
    (unless shown back right after a write, which has its own event). ``NotVisible`` for
    a missing note and a forbidden one alike."""
    pk = _note_pk(note_id)
    if pk is None or not notes_visible_to(user=user).filter(pk=pk).exists():
        raise note_refusal(note_id=note_id, attempted="read")
    views = note_views_for(user=user, notes=[Note(pk=pk)], via=None if after_write else "detail")
    if not views:
        raise note_refusal(note_id=note_id, attempted="read")
    return views[0]


def note_for_write(*, user: User, note_id: Any, attempted: str) -> Note:
    """The door for changing a note (edit, sign, co-sign, amend): the note if ``user`` may
    change it through the care relationship, never through an emergency grant.
    ``NotVisible`` otherwise. Call it outside the write's transaction so the denial is
    kept; the write service locks the row itself."""
    pk = _note_pk(note_id)
    note = _writable(user=user).filter(pk=pk).first() if pk is not None else None
    if note is None:
        raise note_refusal(note_id=note_id, attempted=attempted)
    return note


def note_role_refused(*, user: User, note_id: Any, attempted: str) -> None:
    """Audit a refusal the role gate or a service rule decided (403: the role may never
    use the endpoint, or "only the author signs"), through the same denial event as a
    ``NotVisible``."""
    audit_not_visible(note_refusal(note_id=note_id, attempted=attempted), actor=user)


def overdue_notes_for(*, user: User, now: dt.datetime | None = None) -> QuerySet[Note]:
    """The door to the overdue list: drafts older than ``NOTES_OVERDUE_HOURS`` after their
    session (or creation) that ``user`` may write, in the cohorts ``user`` is a clinician
    of, plus the user's own overdue drafts. Show a page through ``overdue_notes_shown``."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.NOTES_OVERDUE_HOURS)
    clinician_cohorts = staff_cohort_ids(user=user, roles=[StaffRole.CLINICIAN])
    late = Q(session__isnull=False, session__ends_at__lt=cutoff) | Q(
        session__isnull=True, created_at__lt=cutoff
    )
    return (
        _writable(user=user)
        .filter(late, status=NoteStatus.DRAFT)
        .filter(~Q(kind=NoteKind.PSYCHOTHERAPY) | Q(author_id=user.pk))
        .filter(Q(cohort_id__in=clinician_cohorts) | Q(author_id=user.pk))
        .select_related("author", "session", "patient")
        .order_by("occurred_at", "id")
    )


def overdue_notes_shown(*, user: User, notes: Iterable[Note]) -> list[Note]:
    """A page of the overdue list, audited: it shows no note text, but it says that a
    patient has a note (or, for a group note, that its patients were in the session):
    one event per note and patient."""
    notes = list(notes)
    entry_patients: dict[int, list[int]] = {}
    group_ids = [n.pk for n in notes if n.kind == NoteKind.GROUP]
    for note_id, patient_id in (
        GroupNoteEntry.objects.filter(note_id__in=group_ids)
        .order_by("note_id", "patient_id")
        .values_list("note_id", "patient_id")
    ):
        entry_patients.setdefault(note_id, []).append(patient_id)

    def patients(note: Note) -> list[int | None]:
        if note.patient_id is not None:
            return [note.patient_id]
        return list(entry_patients.get(note.pk, [])) or [None]

    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": "note",
            "object_id": note.pk,
            "patient": patient_id,
            "detail": {"kind": note.kind, "via": "overdue"},
        }
        for note in notes
        for patient_id in patients(note)
    )
    return notes


def patient_record_notes(*, user: User) -> QuerySet[Note]:
    """A patient's own record: signed progress notes about them and signed group notes with
    an entry for them. Never psychotherapy notes."""
    if user.role != Role.PATIENT:
        return Note.objects.none()
    own_entries = GroupNoteEntry.objects.filter(patient_id=user.pk)
    return (
        Note.objects.filter(status=NoteStatus.SIGNED)
        .filter(
            Q(kind=NoteKind.PROGRESS, patient_id=user.pk)
            | Q(kind=NoteKind.GROUP, pk__in=own_entries.values("note_id"))
        )
        .select_related("author", "signed_by", "cosigned_by")
        .prefetch_related(
            Prefetch(
                "entries",
                queryset=own_entries.select_related("patient"),
                to_attr="own_entries",
            ),
            "addenda__author",
        )
        .order_by("-occurred_at", "-id")
    )


def patient_record_views(*, user: User, notes: Iterable[Note]) -> list[NoteView]:
    """Views holding only the patient's own entry; each note shown is audited (one event,
    about the patient)."""
    views = [
        NoteView(note=note, entries=list(note.own_entries))  # type: ignore[attr-defined]
        for note in notes
    ]
    audit.record_many(
        event for v in views for event in _read_events(v, user=user, via="patient_record")
    )
    return views
