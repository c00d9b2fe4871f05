"""Reads of clinical notes: the only code that queries the note models for a caller.

Who sees what:
- a psychotherapy note: its author, nobody else;
- a group note: its author and the staff (facilitators and clinicians) of its cohort;
- a progress note: its author and the clinicians on the care team of any cohort the patient
  is or was enrolled in;
- a clinician with a live emergency grant for a patient: that patient's progress notes and
  the group notes with an entry for them (that entry only), read-only;
- patients: their own signed progress notes and their own entries of signed group notes,
  only through ``patient_record_notes``; admins and auditors: nothing.

Every note handed out is audited here (``read``), and every refused lookup too (``denied``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest
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
from vioip.accounts.models import Role
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome


@dataclass
class NoteView:
    """A note as one caller may see it: which entries, and under which emergency grant."""

    note: Note
    entries: list[GroupNoteEntry] = field(default_factory=list)
    grant_id: int | None = None

    @property
    def audit_patient_id(self) -> int | None:
        if self.note.patient_id is not None:
            return self.note.patient_id
        # A group note concerns every patient with an entry; name the one when there is one.
        if len(self.entries) == 1:
            return self.entries[0].patient_id
        return None


def _is_staff(user: Any) -> bool:
    return bool(user.role in (Role.FACILITATOR, Role.CLINICIAN))


def active_grants(*, user: Any) -> QuerySet[EmergencyAccessGrant]:
    if user.role != Role.CLINICIAN:
        return EmergencyAccessGrant.objects.none()
    return EmergencyAccessGrant.objects.filter(clinician_id=user.pk, expires_at__gt=timezone.now())


def _care_q(user: Any) -> Q:
    """Notes ``user`` may read and write as author or care-team member."""
    if not _is_staff(user):
        return Q(pk__in=[])
    q = Q(author_id=user.pk) | Q(kind=NoteKind.GROUP, cohort_id__in=staff_cohort_ids(user=user))
    if user.role == Role.CLINICIAN:
        q |= Q(
            kind=NoteKind.PROGRESS,
            patient_id__in=patient_ids_in_care_of(user=user, roles=[StaffRole.CLINICIAN]),
        )
    return q


def _grant_q(granted_patient_ids: set[int]) -> Q:
    if not granted_patient_ids:
        return Q(pk__in=[])
    return Q(kind=NoteKind.PROGRESS, patient_id__in=granted_patient_ids) | Q(
        kind=NoteKind.GROUP, entries__patient_id__in=granted_patient_ids
    )


def notes_writable_by(*, user: Any) -> QuerySet[Note]:
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


def _grants_by_patient(user: Any) -> dict[int, int]:
    return {
        patient_id: grant_id
        for grant_id, patient_id in active_grants(user=user)
        .order_by("granted_at", "id")
        .values_list("id", "patient_id")
    }


def _view(note: Note, *, user: Any, care_ids: set[int], grants: dict[int, int]) -> NoteView:
    entries = list(note.entries.all())
    if note.pk in care_ids:
        return NoteView(note=note, entries=entries)
    # Read only through an emergency grant: only the granted patient's parts.
    if note.kind == NoteKind.PROGRESS:
        return NoteView(note=note, grant_id=grants.get(note.patient_id or 0))
    visible = [e for e in entries if e.patient_id in grants]
    grant_id = grants[visible[0].patient_id] if visible else None
    return NoteView(note=note, entries=visible, grant_id=grant_id)


def _read_event(
    view: NoteView, *, user: Any, request: HttpRequest | None, via: str
) -> dict[str, Any]:
    detail: dict[str, Any] = {"kind": view.note.kind, "via": via}
    if view.note.kind == NoteKind.GROUP:
        detail["patients"] = [e.patient_id for e in view.entries]
    if view.grant_id is not None:
        detail["emergency_grant"] = view.grant_id
    return {
        "action": Action.READ,
        "actor": user,
        "object_type": "note",
        "object_id": view.note.pk,
        "patient": view.audit_patient_id,
        "request": request,
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


def notes_visible_to(*, user: Any, filters: NoteFilters | None = None) -> QuerySet[Note]:
    """Ids-level visibility (no auditing): for lists, counts and pagination."""
    grants = _grants_by_patient(user)
    visible = Note.objects.filter(_care_q(user) | _grant_q(set(grants)))
    # The grant clause joins entries; select ids first so each note appears once.
    qs = Note.objects.filter(pk__in=visible.values("pk"))
    return _filtered(qs, filters or NoteFilters())


def note_views_for(
    *, user: Any, notes: list[Note], request: HttpRequest | None, via: str | None = "list"
) -> list[NoteView]:
    """Views of notes already limited by ``notes_visible_to``; each one read is audited
    (``via=None``: the note is shown back after a write whose own event covers it)."""
    if not notes:
        return []
    ids = [n.pk for n in notes]
    care_ids = set(Note.objects.filter(_care_q(user), pk__in=ids).values_list("pk", flat=True))
    grants = _grants_by_patient(user) if len(care_ids) < len(ids) else {}
    loaded = _with_related(Note.objects.filter(pk__in=ids)).in_bulk()
    views = [_view(loaded[i], user=user, care_ids=care_ids, grants=grants) for i in ids]
    if via is not None:
        # One event per note read, appended together: a page costs the same to audit
        # whatever its length.
        audit.record_many(_read_event(v, user=user, request=request, via=via) for v in views)
    return views


def _deny(*, user: Any, note_id: Any, request: HttpRequest | None, action: str) -> None:
    existing = None
    if isinstance(note_id, int):
        existing = Note.objects.filter(pk=note_id).values("patient_id").first()
    audit.record(
        action=Action.DENIED,
        actor=user,
        outcome=Outcome.DENIED,
        object_type="note",
        object_id=note_id,
        patient=existing["patient_id"] if existing else None,
        request=request,
        detail={"attempted": action, "exists": existing is not None},
    )


def note_access_denied(
    *, user: Any, note_id: Any, request: HttpRequest | None, action: str
) -> None:
    """Audit a refusal decided elsewhere (a role that may never touch notes)."""
    _deny(user=user, note_id=note_id, request=request, action=action)


def note_get_for_user(
    *,
    user: Any,
    note_id: Any,
    request: HttpRequest | None = None,
    after_write: bool = False,
) -> NoteView:
    """The note as ``user`` may read it, audited as a read (unless shown back right after a
    write, which has its own event); Http404 (audited as denied) for a missing note and a
    forbidden one alike."""
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise Http404 from None
    if not notes_visible_to(user=user).filter(pk=pk).exists():
        _deny(user=user, note_id=pk, request=request, action="read")
        raise Http404
    views = note_views_for(
        user=user, notes=[Note(pk=pk)], request=request, via=None if after_write else "detail"
    )
    return views[0]


def note_get_for_write(
    *, user: Any, note_id: Any, request: HttpRequest | None, action: str
) -> Note:
    """The note if ``user`` may change it (author or care team, never through an emergency
    grant); Http404 (audited as denied) otherwise. Call it outside the write's transaction
    so the denial is kept; the write service locks the row itself."""
    try:
        pk = int(note_id)
    except (TypeError, ValueError):
        raise Http404 from None
    note = notes_writable_by(user=user).filter(pk=pk).first()
    if note is None:
        _deny(user=user, note_id=pk, request=request, action=action)
        raise Http404
    return note


def overdue_notes_for(*, user: Any, now: dt.datetime | None = None) -> QuerySet[Note]:
    """Drafts older than ``NOTES_OVERDUE_HOURS`` after their session (or creation), in the
    cohorts ``user`` is a clinician of, plus the user's own overdue drafts."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.NOTES_OVERDUE_HOURS)
    clinician_cohorts = staff_cohort_ids(user=user, roles=[StaffRole.CLINICIAN])
    late = Q(session__isnull=False, session__ends_at__lt=cutoff) | Q(
        session__isnull=True, created_at__lt=cutoff
    )
    return (
        notes_writable_by(user=user)
        .filter(late, status=NoteStatus.DRAFT)
        .filter(~Q(kind=NoteKind.PSYCHOTHERAPY) | Q(author_id=user.pk))
        .filter(Q(cohort_id__in=clinician_cohorts) | Q(author_id=user.pk))
        .select_related("author", "session", "patient")
        .order_by("occurred_at", "id")
    )


def overdue_notes_audit(*, user: Any, notes: list[Note], request: HttpRequest | None) -> None:
    """The overdue list shows no note text, but it does say which patient has a note."""
    audit.record_many(
        {
            "action": Action.READ,
            "actor": user,
            "object_type": "note",
            "object_id": note.pk,
            "patient": note.patient_id,
            "request": request,
            "detail": {"kind": note.kind, "via": "overdue"},
        }
        for note in notes
    )


def patient_record_notes(*, user: Any) -> QuerySet[Note]:
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


def patient_record_views(
    *, user: Any, notes: list[Note], request: HttpRequest | None
) -> list[NoteView]:
    """Views holding only the patient's own entry; each note shown is audited."""
    views = [
        NoteView(note=note, entries=list(note.own_entries))  # type: ignore[attr-defined]
        for note in notes
    ]
    audit.record_many(
        _read_event(v, user=user, request=request, via="patient_record") for v in views
    )
    return views
