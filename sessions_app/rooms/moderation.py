"""Moderation: what the session's staff do to a room and the people in it (admit, step
out, mute, remove, lock, delete a message, end the session). Each frame is checked against
the socket's access and the care team, changes the room under its row lock, and is audited;
a staff frame from someone else is refused and audited too."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from groups.selectors import is_cohort_staff
from sessions_app.models import Session, SessionStatus
from sessions_app.rooms import notify, presence
from sessions_app.rooms.models import ChatMessage, Participant, ParticipantState
from sessions_app.rooms.protocol import CLOSE_ENDED, CLOSE_FORBIDDEN, RoomError
from sessions_app.rooms.rows import (
    close_segments,
    open_segment,
    participant_for_update,
    room_for_update,
    visible_record,
)
from sessions_app.rooms.selectors import require_access, room_flags
from vioip.accounts.models import Role, User
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome


def _staff_session(*, session_id: int, actor: User, token_id: int | None) -> Session:
    """The session, for a moderation frame of a socket whose access holds now
    (``AccessEnded`` otherwise) and who is on the session's care team."""
    require_access(session_id=session_id, user_id=actor.pk, token_id=token_id)
    session = Session.objects.get(pk=session_id)
    if not is_cohort_staff(user=actor, cohort_id=session.cohort_id):
        raise RoomError("forbidden", "Only the session's staff can do this.")
    return session


def _audit_moderation(*, actor: User, session_id: int, frame: str, target: Any = None) -> None:
    audit.record(
        action=Action.MODERATE,
        actor=actor,
        object_type="session",
        object_id=session_id,
        patient=target if getattr(target, "role", None) == Role.PATIENT else None,
        detail={"frame": frame, "target": getattr(target, "pk", None)},
    )


def moderation_refused(*, actor: User, session_id: int, frame: str) -> None:
    """A staff frame from someone who is not staff: audited as a denied moderation."""
    audit.record(
        action=Action.MODERATE,
        actor=actor,
        outcome=Outcome.DENIED,
        object_type="session",
        object_id=session_id,
        detail={"frame": frame},
    )


def _target(*, session_id: int, user_id: int, patients_only: bool = True) -> Participant:
    participant = participant_for_update(session_id=session_id, user_id=user_id)
    if participant is None or participant.removed:
        raise RoomError("not_found", "No such participant in this room.")
    if patients_only and participant.is_staff:
        raise RoomError("invalid", "Staff cannot be moderated.")
    return participant


@transaction.atomic
def participant_admit(*, session_id: int, actor: User, token_id: int | None, user_id: int) -> None:
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    target = _target(session_id=session_id, user_id=user_id)
    if target.state == ParticipantState.ADMITTED:
        return
    before = visible_record(target)
    target.state = ParticipantState.ADMITTED
    target.save(update_fields=["state", "updated_at"])
    if target.online:
        open_segment(session_id=session_id, user_id=user_id, at=timezone.now())
    notify.notify_presence(session_id=session_id, before=before, after=visible_record(target))
    notify.notify_control(session_id=session_id, user_id=user_id, action="refresh")
    _audit_moderation(actor=actor, session_id=session_id, frame="waiting.admit", target=target.user)


@transaction.atomic
def participant_step_out(
    *, session_id: int, actor: User, token_id: int | None, user_id: int
) -> None:
    """Back to the waiting room for a private check-in with staff.

    The check-in is treatment time, so the attendance stretch stays open: it continues
    when the patient is admitted again and closes if they leave meanwhile. (Time in the
    waiting room before a first admission is never attendance.)"""
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    target = _target(session_id=session_id, user_id=user_id)
    if target.state == ParticipantState.WAITING:
        return
    before = visible_record(target)
    target.state = ParticipantState.WAITING
    target.hand_raised = False
    target.save(update_fields=["state", "hand_raised", "updated_at"])
    notify.notify_presence(session_id=session_id, before=before, after=visible_record(target))
    notify.notify_control(session_id=session_id, user_id=user_id, action="refresh")
    _audit_moderation(
        actor=actor, session_id=session_id, frame="participant.step_out", target=target.user
    )


@transaction.atomic
def participant_set_muted(
    *, session_id: int, actor: User, token_id: int | None, user_id: int, muted: bool
) -> None:
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    target = _target(session_id=session_id, user_id=user_id)
    if target.muted == muted:
        return
    before = visible_record(target)
    target.muted = muted
    target.save(update_fields=["muted", "updated_at"])
    notify.notify_presence(session_id=session_id, before=before, after=visible_record(target))
    frame = "participant.mute" if muted else "participant.unmute"
    _audit_moderation(actor=actor, session_id=session_id, frame=frame, target=target.user)


@transaction.atomic
def participant_remove(*, session_id: int, actor: User, token_id: int | None, user_id: int) -> None:
    """Close every socket of the person (on every process) and bar them from the session."""
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    target = _target(session_id=session_id, user_id=user_id)
    before = visible_record(target)
    now = timezone.now()
    target.removed = True
    target.removed_at = now
    target.removed_by = actor
    target.online = False
    target.hand_raised = False
    target.save(
        update_fields=["removed", "removed_at", "removed_by", "online", "hand_raised", "updated_at"]
    )
    close_segments(session_id=session_id, user_id=user_id, at=now)
    notify.notify_presence(session_id=session_id, before=before, after=None)
    notify.notify_control(
        session_id=session_id, user_id=user_id, action="close", code=CLOSE_FORBIDDEN
    )
    _audit_moderation(
        actor=actor, session_id=session_id, frame="participant.remove", target=target.user
    )


@transaction.atomic
def room_set_locked(*, session_id: int, actor: User, token_id: int | None, locked: bool) -> None:
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room = room_for_update(session)
    if room.locked == locked:
        return
    room.locked = locked
    room.save(update_fields=["locked"])
    notify.notify_frame(
        session_id=session_id, frame={"type": "room.updated", "room": room_flags(room)}
    )
    _audit_moderation(
        actor=actor, session_id=session_id, frame="room.lock" if locked else "room.unlock"
    )


@transaction.atomic
def chat_delete(*, session_id: int, actor: User, token_id: int | None, seq: int) -> None:
    """Hide a message from everyone; the row stays, marked deleted and by whom."""
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    message = ChatMessage.objects.select_for_update().filter(session=session, seq=seq).first()
    if message is None:
        raise RoomError("not_found", "No message with this seq.")
    if message.deleted:
        return
    message.deleted = True
    message.deleted_at = timezone.now()
    message.deleted_by = actor
    message.save(update_fields=["deleted", "deleted_at", "deleted_by"])
    notify.notify_frame(session_id=session_id, frame={"type": "chat.deleted", "seq": seq})
    audit.record(
        action=Action.MODERATE,
        actor=actor,
        object_type="chat_message",
        object_id=message.pk,
        detail={"frame": "chat.delete", "seq": seq},
    )


@transaction.atomic
def session_end(*, session_id: int, actor: User, token_id: int | None) -> None:
    """End the session: every socket closes (4410) and attendance closes now."""
    session = _staff_session(session_id=session_id, actor=actor, token_id=token_id)
    room_for_update(session)
    session = Session.objects.select_for_update().get(pk=session_id)
    if session.status in (SessionStatus.ENDED, SessionStatus.CANCELLED):
        return
    now = timezone.now()
    session.status = SessionStatus.ENDED
    session.ended_at = now
    session.save(update_fields=["status", "ended_at", "updated_at"])
    close_segments(session_id=session_id, at=now)
    Participant.objects.filter(session_id=session_id).update(online=False, hand_raised=False)
    presence.store().clear(session_id)
    notify.notify_frame(
        session_id=session_id,
        frame={"type": "session.ended", "session_id": session_id, "ended_at": now},
        audience=notify.ALL,
    )
    notify.notify_control(session_id=session_id, action="close", code=CLOSE_ENDED)
    _audit_moderation(actor=actor, session_id=session_id, frame="session.end")
