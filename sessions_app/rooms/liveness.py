"""What a process's heartbeat (``heartbeat``) asks of the database for its live sockets:
keep them present, sweep their rooms, and tell each socket the state the database holds
and whether its access still holds, so a lost broadcast never leaves a socket wrong."""

from __future__ import annotations

from dataclasses import dataclass

from sessions_app.models import SessionStatus
from sessions_app.rooms import presence
from sessions_app.rooms.entry import Refused, enter, rooms_swept
from sessions_app.rooms.models import Participant, ParticipantState
from sessions_app.rooms.protocol import CLOSE_ENDED, CLOSE_FORBIDDEN
from sessions_app.rooms.selectors import SocketKey, sockets_access
from vioip.accounts.models import User
from vioip.core.prepared import Prepared


@dataclass(frozen=True)
class Heartbeat:
    """What a beat learnt about one socket: the state the database holds, and the code to
    close it with, if any."""

    state: str
    close_code: int | None
    # The close is for access that ended (credential or relationship), not the room's.
    access_ended: bool = False


# When this process last swept each room from a heartbeat.
_last_heartbeat_sweep: dict[int, float] = {}


def _sweep_due(session_id: int) -> bool:
    """One heartbeat sweep per room per heartbeat interval in a process, not one per
    socket: with twenty sockets in a room, nineteen sweeps in twenty were wasted work on
    the process's single database thread."""
    now = presence.now()
    interval = presence.beat_interval()
    last = _last_heartbeat_sweep.get(session_id)
    if last is not None and 0 <= now - last < interval:
        return False
    _last_heartbeat_sweep[session_id] = now
    return True


@dataclass(frozen=True)
class LiveSocket:
    session_id: int
    user: User
    conn: str
    token_id: int | None = None


_BEAT_ROWS = Prepared(
    lambda session_ids, user_ids: Participant.objects.filter(
        session_id__any_of=session_ids, user_id__any_of=user_ids
    ).values_list("session_id", "user_id", "state", "removed", "online", "session__status"),
    session_ids=Prepared.INTS,
    user_ids=Prepared.INTS,
)


def rooms_heartbeat(*, sockets: list[LiveSocket]) -> dict[str, Heartbeat]:
    """Keep a process's live sockets present (one Redis round trip), sweep their rooms
    (once per interval per process; one round trip and one query for them all), and tell
    each socket, by channel name, the state the database holds: a missed broadcast never
    leaves a socket in the wrong state. Each socket's access is checked too (the backstop
    for a lost ``access.changed``): three queries for all the sockets, however many rooms
    they are in."""
    if not sockets:
        return {}
    expiry = presence.socket_expiry()
    presence.store().touch_many(
        [(s.session_id, presence.member_name(s.user.pk, s.conn), expiry) for s in sockets]
    )
    rooms = sorted({s.session_id for s in sockets})
    # After the touch: a sweep never takes out a socket beating here.
    rooms_swept([session_id for session_id in rooms if _sweep_due(session_id)])
    rows = {
        (session_id, user_id): (state, removed, online, status)
        for session_id, user_id, state, removed, online, status in _BEAT_ROWS.rows(
            session_ids=rooms, user_ids=sorted({s.user.pk for s in sockets})
        )
    }
    access = sockets_access(
        sockets=[SocketKey(s.session_id, s.user.pk, s.token_id) for s in sockets]
    )
    beats: dict[str, Heartbeat] = {}
    for socket in sockets:
        row = rows.get((socket.session_id, socket.user.pk))
        if row is None or row[1]:
            beats[socket.conn] = Heartbeat(ParticipantState.WAITING, CLOSE_FORBIDDEN)
            continue
        state, _, online, status = row
        denied = access[SocketKey(socket.session_id, socket.user.pk, socket.token_id)]
        if status in (SessionStatus.ENDED, SessionStatus.CANCELLED):
            beats[socket.conn] = Heartbeat(state, CLOSE_ENDED)
        elif denied is not None:
            beats[socket.conn] = Heartbeat(state, denied, access_ended=True)
        elif not online:
            # Swept while alive (a stalled process): come back in.
            try:
                participant = enter(
                    session_id=socket.session_id, user=socket.user, conn=socket.conn
                )
                beats[socket.conn] = Heartbeat(participant.state, None)
            except Refused as refused:
                beats[socket.conn] = Heartbeat(state, refused.code)
        else:
            beats[socket.conn] = Heartbeat(state, None)
    return beats
