from __future__ import annotations

import json
from typing import Any, NoReturn, cast

from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.notes import selectors, services
from groups.notes.models import (
    Addendum,
    EmergencyAccessGrant,
    GroupNoteEntry,
    Note,
    NoteFormat,
    NoteKind,
    NoteStatus,
    RiskLevel,
)
from sessions_app.models import Session
from sessions_app.selectors import session_for_user
from vioip.accounts.models import User
from vioip.core.errors import NotVisible, audit_not_visible
from vioip.core.pagination import PageNumberPagination
from vioip.core.permissions import IsClinician, IsPatient, IsStaff

# --- input ------------------------------------------------------------------------------------


class SharedSerializer(serializers.Serializer):
    topic = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    interventions = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    themes = serializers.CharField(allow_blank=True, required=False, max_length=20000)


class EntryInputSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    participation = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    progress = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    mood = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    risk = serializers.ChoiceField(choices=RiskLevel.choices, default=RiskLevel.NONE)
    follow_up = serializers.CharField(allow_blank=True, required=False, max_length=20000)


class GroupNoteCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[NoteKind.GROUP])
    session = serializers.IntegerField()
    shared = SharedSerializer()
    entries = EntryInputSerializer(many=True, required=False, default=list)


class ProgressNoteCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[NoteKind.PROGRESS])
    patient = serializers.IntegerField()
    session = serializers.IntegerField(required=False, allow_null=True)
    format = serializers.ChoiceField(choices=NoteFormat.choices)
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True))


class PsychotherapyNoteCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[NoteKind.PSYCHOTHERAPY])
    patient = serializers.IntegerField()
    session = serializers.IntegerField(required=False, allow_null=True)
    text = serializers.CharField(max_length=50000)


CREATE_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    NoteKind.GROUP: GroupNoteCreateSerializer,
    NoteKind.PROGRESS: ProgressNoteCreateSerializer,
    NoteKind.PSYCHOTHERAPY: PsychotherapyNoteCreateSerializer,
}

NoteCreateInput = PolymorphicProxySerializer(
    component_name="NoteCreate",
    serializers=list(CREATE_SERIALIZERS.values()),
    resource_type_field_name="kind",
)


class NoteUpdateSerializer(serializers.Serializer):
    """By kind: group ``shared``/``entries``; progress ``format``/``sections``; psychotherapy
    ``text``."""

    shared = SharedSerializer(required=False)
    entries = EntryInputSerializer(many=True, required=False)
    format = serializers.ChoiceField(choices=NoteFormat.choices, required=False)
    sections = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    text = serializers.CharField(max_length=50000, required=False)


class AddendumInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=20000)


class EmergencyAccessInputSerializer(serializers.Serializer):
    patient = serializers.IntegerField()
    reason = serializers.CharField(max_length=2000)


class NoteListQuerySerializer(serializers.Serializer):
    patient = serializers.IntegerField(required=False)
    session = serializers.IntegerField(required=False)
    cohort = serializers.IntegerField(required=False)
    kind = serializers.ChoiceField(choices=NoteKind.choices, required=False)
    status = serializers.ChoiceField(choices=NoteStatus.choices, required=False)

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)
        dates = serializers.DateField()
        for param in ("from", "to"):
            if data.get(param):
                try:
                    values[param] = dates.to_internal_value(data[param])
                except ValidationError as exc:
                    raise ValidationError({param: exc.detail}) from None
        return values


# --- output -----------------------------------------------------------------------------------


class PersonSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class EntryOutputSerializer(serializers.Serializer):
    patient = PersonSerializer()
    participation = serializers.CharField()
    progress = serializers.CharField()
    mood = serializers.CharField()
    risk = serializers.ChoiceField(choices=RiskLevel.choices)
    follow_up = serializers.CharField()


class AddendumOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    author = PersonSerializer()
    text = serializers.CharField()
    signed_at = serializers.DateTimeField()
    content_hash = serializers.CharField()


class NoteOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=NoteKind.choices)
    status = serializers.ChoiceField(choices=NoteStatus.choices)
    cohort = serializers.IntegerField()
    session = serializers.IntegerField(allow_null=True)
    patient = PersonSerializer(allow_null=True)
    author = PersonSerializer()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    signed_by = PersonSerializer(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    content_hash = serializers.CharField()
    cosigned_by = PersonSerializer(allow_null=True)
    cosigned_at = serializers.DateTimeField(allow_null=True)
    shared = SharedSerializer(allow_null=True)
    entries = EntryOutputSerializer(many=True, allow_null=True)
    format = serializers.CharField()
    sections = serializers.DictField(child=serializers.CharField(), allow_null=True)
    text = serializers.CharField(allow_null=True)
    addenda = AddendumOutputSerializer(many=True)
    emergency_grant = serializers.IntegerField(allow_null=True)


class PatientRecordNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=[NoteKind.GROUP, NoteKind.PROGRESS])
    session = serializers.IntegerField(allow_null=True)
    occurred_at = serializers.DateTimeField()
    author = PersonSerializer()
    signed_by = PersonSerializer()
    signed_at = serializers.DateTimeField()
    cosigned_by = PersonSerializer(allow_null=True)
    format = serializers.CharField()
    sections = serializers.DictField(child=serializers.CharField(), allow_null=True)
    entry = EntryOutputSerializer(allow_null=True)
    addenda = AddendumOutputSerializer(many=True)


class OverdueNoteSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=NoteKind.choices)
    cohort = serializers.IntegerField()
    session = serializers.IntegerField(allow_null=True)
    patient = serializers.IntegerField(allow_null=True)
    author = PersonSerializer()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class EmergencyAccessOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField()
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


def _person(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "display_name": user.display_name}


def _entry(entry: GroupNoteEntry) -> dict[str, Any]:
    return {
        "patient": _person(entry.patient),
        "participation": entry.participation,
        "progress": entry.progress,
        "mood": entry.mood,
        "risk": entry.risk,
        "follow_up": entry.follow_up,
    }


def _addendum(addendum: Addendum) -> dict[str, Any]:
    return {
        "id": addendum.pk,
        "author": _person(addendum.author),
        "text": addendum.text,
        "signed_at": addendum.signed_at,
        "content_hash": addendum.content_hash,
    }


def _sections(note: Note) -> dict[str, str] | None:
    return json.loads(note.sections) if note.kind == NoteKind.PROGRESS and note.sections else None


def note_payload(view: selectors.NoteView) -> dict[str, Any]:
    note = view.note
    is_group = note.kind == NoteKind.GROUP
    return {
        "id": note.pk,
        "kind": note.kind,
        "status": note.status,
        "cohort": note.cohort_id,
        "session": note.session_id,
        "patient": _person(note.patient),
        "author": _person(note.author),
        "occurred_at": note.occurred_at,
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "signed_by": _person(note.signed_by),
        "signed_at": note.signed_at,
        "content_hash": note.content_hash,
        "cosigned_by": _person(note.cosigned_by),
        "cosigned_at": note.cosigned_at,
        "shared": (
            {"topic": note.topic, "interventions": note.interventions, "themes": note.themes}
            if is_group
            else None
        ),
        "entries": [_entry(e) for e in view.entries] if is_group else None,
        "format": note.format,
        "sections": _sections(note),
        "text": note.text if note.kind == NoteKind.PSYCHOTHERAPY else None,
        # Addenda of a group note may concern any patient in it: not under an emergency grant.
        "addenda": (
            [_addendum(a) for a in note.addenda.all()]
            if view.grant_id is None or not is_group
            else []
        ),
        "emergency_grant": view.grant_id,
    }


def patient_record_payload(view: selectors.NoteView) -> dict[str, Any]:
    note = view.note
    is_group = note.kind == NoteKind.GROUP
    return {
        "id": note.pk,
        "kind": note.kind,
        "session": note.session_id,
        "occurred_at": note.occurred_at,
        "author": _person(note.author),
        "signed_by": _person(note.signed_by),
        "signed_at": note.signed_at,
        "cosigned_by": _person(note.cosigned_by),
        "format": note.format,
        "sections": _sections(note),
        "entry": _entry(view.entries[0]) if is_group and view.entries else None,
        # A group note's addenda may speak of other patients; a progress note's are theirs.
        "addenda": [] if is_group else [_addendum(a) for a in note.addenda.all()],
    }


# --- views ------------------------------------------------------------------------------------


class _NoteApi(APIView):
    """Role gate for note endpoints. A role that may not use the endpoint, or a rule a
    service applies (such as "only the author signs"), answers 403 and is audited as a
    denial, through the same event as a refused lookup. Lookups go through the doors in
    ``selectors`` (``note_for_user``, ``note_for_write``): a missing or forbidden note
    raises ``NotVisible``, which the exception handler answers (404) and audits."""

    permission_classes = [IsStaff]
    # What a refused caller attempted, by HTTP method, for the denial's audit event.
    audit_actions = {"GET": "read", "POST": "create", "PATCH": "update"}

    def _audit_refusal(self, request: Request) -> None:
        if request.user is None or not request.user.is_authenticated:
            return
        if getattr(request, "_note_refusal_audited", False):
            return
        request._note_refusal_audited = True  # type: ignore[attr-defined]
        selectors.note_role_refused(
            user=_user(request),
            note_id=self.kwargs.get("note_id", ""),
            attempted=self.audit_actions.get(request.method or "", "read"),
        )

    def permission_denied(
        self, request: Request, message: Any = None, code: Any = None
    ) -> NoReturn:
        self._audit_refusal(request)
        super().permission_denied(request, message=message, code=code)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, PermissionDenied):
            self._audit_refusal(self.request)
        return super().handle_exception(exc)


def _user(request: Request) -> User:
    # Every note endpoint requires a role, so the caller is always an authenticated User.
    return cast(User, request.user)


def _session_for(*, user: User, session_id: int | None, field: str = "session") -> Session | None:
    if session_id is None:
        return None
    try:
        return session_for_user(user=user, session_id=session_id, attempted="write_note")
    except NotVisible as exc:
        # In a request body an unknown or foreign session is bad input, not a missing
        # page; the refused lookup is still audited.
        audit_not_visible(exc, actor=user)
        raise ValidationError({field: ["No session you can see has this id."]}) from None


def _detail_response(
    request: Request, note_id: Any, code: int = status.HTTP_200_OK, *, after_write: bool = True
) -> Response:
    view = selectors.note_for_user(user=_user(request), note_id=note_id, after_write=after_write)
    return Response(NoteOutputSerializer(note_payload(view)).data, status=code)


class NoteListCreateApi(_NoteApi):
    # Named here (not only used) so the schema documents the page envelope of the list.
    pagination_class = PageNumberPagination

    @extend_schema(
        parameters=[
            NoteListQuerySerializer,
            OpenApiParameter("from", str, description="Earliest date (YYYY-MM-DD)."),
            OpenApiParameter("to", str, description="Latest date (YYYY-MM-DD)."),
        ],
        responses={200: NoteOutputSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        """Notes the caller may read, newest first. Each read is audited."""
        query = NoteListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        filters = selectors.NoteFilters(
            patient=q.get("patient"),
            session=q.get("session"),
            cohort=q.get("cohort"),
            kind=q.get("kind"),
            status=q.get("status"),
            date_from=q.get("from"),
            date_to=q.get("to"),
        )
        qs = (
            selectors.notes_visible_to(user=_user(request), filters=filters)
            .only("pk", "occurred_at")
            .order_by("-occurred_at", "-id")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs, request, view=self) or []
        views = selectors.note_views_for(user=_user(request), notes=list(page))
        data = NoteOutputSerializer([note_payload(v) for v in views], many=True).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=NoteCreateInput, responses={201: NoteOutputSerializer})
    def post(self, request: Request) -> Response:
        """Write a draft note: group, progress or psychotherapy (`kind`)."""
        kind = request.data.get("kind") if isinstance(request.data, dict) else None
        # Any JSON value may arrive here, lists and objects included (they are unhashable).
        serializer_class = CREATE_SERIALIZERS.get(kind) if isinstance(kind, str) else None
        if serializer_class is None:
            raise ValidationError({"kind": [f"Choose one of: {', '.join(NoteKind.values)}."]})
        data = serializer_class(data=request.data)
        data.is_valid(raise_exception=True)
        d = data.validated_data
        user = _user(request)
        if kind == NoteKind.GROUP:
            session = _session_for(user=user, session_id=d["session"])
            assert session is not None  # noqa: S101 - session is a required field
            note = services.group_note_create(
                author=user,
                session=session,
                shared=d["shared"],
                entries=d["entries"],
            )
        elif kind == NoteKind.PROGRESS:
            note = services.progress_note_create(
                author=user,
                patient_id=d["patient"],
                fmt=d["format"],
                sections=d["sections"],
                session=_session_for(user=user, session_id=d.get("session")),
            )
        else:
            note = services.psychotherapy_note_create(
                author=user,
                patient_id=d["patient"],
                text=d["text"],
                session=_session_for(user=user, session_id=d.get("session")),
            )
        return _detail_response(request, note.pk, status.HTTP_201_CREATED)


class NoteDetailApi(_NoteApi):
    @extend_schema(responses={200: NoteOutputSerializer})
    def get(self, request: Request, note_id: int) -> Response:
        """One note the caller may read. Audited."""
        return _detail_response(request, note_id, after_write=False)

    @extend_schema(request=NoteUpdateSerializer, responses={200: NoteOutputSerializer})
    def patch(self, request: Request, note_id: int) -> Response:
        """Change a draft note (its author only)."""
        data = NoteUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        note = selectors.note_for_write(user=_user(request), note_id=note_id, attempted="update")
        services.note_update(note=note, actor=_user(request), changes=data.validated_data)
        return _detail_response(request, note_id)


class NoteSignApi(_NoteApi):
    audit_actions = {"POST": "sign"}

    @extend_schema(request=None, responses={200: NoteOutputSerializer})
    def post(self, request: Request, note_id: int) -> Response:
        """Sign a draft note (its author); a signed note is never edited."""
        note = selectors.note_for_write(user=_user(request), note_id=note_id, attempted="sign")
        services.note_sign(note=note, actor=_user(request))
        return _detail_response(request, note_id)


class NoteCosignApi(_NoteApi):
    audit_actions = {"POST": "cosign"}

    @extend_schema(request=None, responses={200: NoteOutputSerializer})
    def post(self, request: Request, note_id: int) -> Response:
        """Co-sign a signed note (a clinician of the patient's care team)."""
        note = selectors.note_for_write(user=_user(request), note_id=note_id, attempted="cosign")
        services.note_cosign(note=note, actor=_user(request))
        return _detail_response(request, note_id)


class NoteAddendumApi(_NoteApi):
    audit_actions = {"POST": "amend"}

    @extend_schema(request=AddendumInputSerializer, responses={201: NoteOutputSerializer})
    def post(self, request: Request, note_id: int) -> Response:
        """Add an addendum to a signed note; both versions remain."""
        data = AddendumInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = selectors.note_for_write(user=_user(request), note_id=note_id, attempted="amend")
        services.addendum_create(
            note=note,
            actor=_user(request),
            text=data.validated_data["text"],
        )
        return _detail_response(request, note_id, status.HTTP_201_CREATED)


class OverdueNotesApi(_NoteApi):
    """Drafts past the signing deadline, for the clinicians of their cohorts."""

    permission_classes = [IsClinician]
    pagination_class = PageNumberPagination

    @extend_schema(
        responses={200: OverdueNoteSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.overdue_notes_for(user=_user(request)), request, view=self
        )
        notes = selectors.overdue_notes_shown(user=_user(request), notes=page or [])
        data = OverdueNoteSerializer(
            [
                {
                    "id": n.pk,
                    "kind": n.kind,
                    "cohort": n.cohort_id,
                    "session": n.session_id,
                    "patient": n.patient_id,
                    "author": _person(n.author),
                    "occurred_at": n.occurred_at,
                    "created_at": n.created_at,
                }
                for n in notes
            ],
            many=True,
        ).data
        return paginator.get_paginated_response(data)


class EmergencyAccessApi(_NoteApi):
    permission_classes = [IsClinician]
    audit_actions = {"POST": "emergency_access"}

    @extend_schema(
        request=EmergencyAccessInputSerializer, responses={201: EmergencyAccessOutputSerializer}
    )
    def post(self, request: Request) -> Response:
        """Break the glass: time-limited access to a patient's notes with a reason. Audited."""
        data = EmergencyAccessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        grant: EmergencyAccessGrant = services.emergency_access_grant(
            clinician=_user(request),
            patient_id=data.validated_data["patient"],
            reason=data.validated_data["reason"],
        )
        return Response(
            EmergencyAccessOutputSerializer(
                {
                    "id": grant.pk,
                    "patient": grant.patient_id,
                    "granted_at": grant.granted_at,
                    "expires_at": grant.expires_at,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )


class MyRecordNotesApi(_NoteApi):
    """A patient's own signed notes (HIPAA right of access): progress notes about them and
    their own entries of group notes; never psychotherapy notes."""

    permission_classes = [IsPatient]
    pagination_class = PageNumberPagination

    @extend_schema(
        responses={200: PatientRecordNoteSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.patient_record_notes(user=_user(request)), request, view=self
        )
        views = selectors.patient_record_views(user=_user(request), notes=page or [])
        data = PatientRecordNoteSerializer(
            [patient_record_payload(v) for v in views], many=True
        ).data
        return paginator.get_paginated_response(data)
