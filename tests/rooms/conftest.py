"""Helpers for room tests: open a socket the way a client does (ticket over REST, then
the WebSocket with an Origin header) and read frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from sessions_app.rooms import presence
from tests.rooms.servers import Daphne, daphne_env, free_port

ORIGIN = [(b"origin", b"http://testserver")]


@pytest.fixture(autouse=True)
def _fresh_presence(settings: Any) -> Any:
    # The in-process presence store outlives a test; session ids are reused after a flush.
    settings.REDIS_URL = ""
    settings.ROOM_GRACE_SECONDS = 0
    presence._store.cache_clear()
    yield
    presence._store.cache_clear()


class Socket:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.comm = communicator
        self.closed_code: int | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.comm.send_json_to(frame)

    async def send_text(self, text: str) -> None:
        await self.comm.send_to(text_data=text)

    async def receive(self, timeout: float = 3) -> dict[str, Any]:
        return await self.comm.receive_json_from(timeout=timeout)

    async def receive_type(self, frame_type: str, timeout: float = 3) -> dict[str, Any]:
        """The next frame of ``frame_type``, skipping others (presence noise)."""
        while True:
            frame = await self.receive(timeout)
            if frame["type"] == frame_type:
                return frame

    async def receive_about(self, frame_type: str, user_id: int, timeout: float = 3) -> Any:
        """The next ``frame_type`` presence frame about ``user_id``."""
        while True:
            frame = await self.receive_type(frame_type, timeout)
            about = frame.get("participant", frame)
            if about.get("user_id") == user_id:
                return frame

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.comm.receive_nothing(timeout=timeout)

    async def closed(self, timeout: float = 3) -> int:
        """Skip frames until the server closes; the close code."""
        while True:
            output = await self.comm.receive_output(timeout=timeout)
            if output["type"] == "websocket.close":
                return int(output.get("code", 1000))

    async def close(self) -> None:
        await self.comm.disconnect()


@pytest.fixture
def issue_ticket(client_for: Callable[..., Any]) -> Callable[..., Any]:
    async def issue(user: Any, session: Any) -> str:
        def post() -> Any:
            return client_for(user).post(f"/api/sessions/{session.pk}/ticket/")

        response = await sync_to_async(post)()
        assert response.status_code == 201, response.content
        return response.json()["ticket"]

    return issue


async def open_socket(session_id: int, ticket: str) -> Socket:
    from vioip.asgi import application

    comm = WebsocketCommunicator(
        application, f"/ws/sessions/{session_id}/?ticket={ticket}", headers=ORIGIN
    )
    connected, _ = await comm.connect()
    assert connected
    return Socket(comm)


@pytest.fixture
def join(issue_ticket: Callable[..., Any]) -> Callable[..., Any]:
    """Open a socket as ``user``; returns it with its first frame read (room.state)."""

    async def open_as(user: Any, session: Any) -> tuple[Socket, dict[str, Any]]:
        ticket = await issue_ticket(user, session)
        socket = await open_socket(session.pk, ticket)
        return socket, await socket.receive()

    return open_as


@pytest.fixture
def refused(issue_ticket: Callable[..., Any]) -> Callable[..., Any]:
    """The close code a ``user`` gets on ``session``."""

    async def close_code(user: Any, session: Any) -> int:
        ticket = await issue_ticket(user, session)
        socket = await open_socket(session.pk, ticket)
        return await socket.closed()

    return close_code


@pytest.fixture
def daphne(tmp_path: Path, transactional_db: Any) -> Iterator[Daphne]:
    """A real daphne process serving vioip on the test's database."""
    server = Daphne(free_port(), daphne_env(tmp_path), tmp_path / "daphne.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
