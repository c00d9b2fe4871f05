"""Raising and lowering a hand: a participant's own signal to the room's staff,
rate-limited before any lock is taken."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from sessions_app.models import Session
from sessions_app.rooms import notify, presence
from sessions_app.rooms.models import Participant, ParticipantState
from sessions_app.rooms.protocol import RoomError
from sessions_app.rooms.rows import participant_for_update, room_for_update, visible_record
from sessions_app.rooms.selectors import require_access
from vioip.accounts.models import User


def _admitted_participant(*, session_id: int, user: User) -> Participant:
    participant = participant_for_update(session_id=session_id, user_id=user.pk)
    if participant is None or participant.removed or not participant.online:
        raise RoomError("forbidden", "You are not in this room.")
    if participant.state != ParticipantState.ADMITTED:
        raise RoomError("not_admitted", "Wait until a facilitator admits you.")
    return participant


def hand_set(*, session_id: int, user: User, token_id: int | None, raised: bool) -> None:
    """Raise or lower the caller's hand. Every toggle counts toward a rate limit, checked
    before any lock is taken: one beyond it is refused and nothing is locked or sent."""
    if not presence.store().rate_allows(
        f"hand:{session_id}:{user.pk}",
        limit=settings.ROOM_HAND_RATE_TOGGLES,
        window=settings.ROOM_HAND_RATE_SECONDS,
    ):
        raise RoomError("rate_limited", "Too many hand changes; wait a few seconds.")
    _hand_set(session_id=session_id, user=user, token_id=token_id, raised=raised)


@transaction.atomic
def _hand_set(*, session_id: int, user: User, token_id: int | None, raised: bool) -> None:
    require_access(session_id=session_id, user_id=user.pk, token_id=token_id)
    session = Session.objects.get(pk=session_id)
    room_for_update(session)
    participant = _admitted_participant(session_id=session_id, user=user)
    if participant.hand_raised == raised:
        return
    before = visible_record(participant)
    participant.hand_raised = raised
    participant.save(update_fields=["hand_raised", "updated_at"])
    notify.notify_presence(session_id=session_id, before=before, after=visible_record(participant))
