"""``python -m sessions_app.client`` joins a room on a real daphne and chats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from sessions_app.client import frame_for
from sessions_app.rooms.models import ChatMessage
from tests.rooms.servers import Daphne, daphne_env, free_port

PASSWORD = "client-test-password-2026"


def test_typed_lines_become_frames():
    chat = frame_for("hello there")
    assert chat is not None and chat["type"] == "chat.send" and chat["text"] == "hello there"
    assert frame_for("/admit 12") == {"type": "waiting.admit", "user_id": 12}
    assert frame_for("/history 40") == {"type": "chat.history", "after_seq": 40}
    assert frame_for("/lock") == {"type": "room.lock"}
    assert frame_for("/admit twelve") is None
    assert frame_for("/dance") is None


@pytest.mark.django_db(transaction=True)
def test_client_logs_in_joins_the_room_and_sends_typed_lines(
    daphne: Daphne, cast: Any, live_session: Any
):
    # The server process hashes with the production hashers, not the suite's fast one.
    cast.facilitator.password = PBKDF2PasswordHasher().encode(PASSWORD, "clienttestsalt")
    cast.facilitator.save(update_fields=["password"])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessions_app.client",
            "--url",
            daphne.http,
            "--username",
            cast.facilitator.username,
            "--password",
            PASSWORD,
            "--session",
            str(live_session.pk),
        ],
        input="hello from the terminal\n/ping\n/quit\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
        env=daphne_env(Path(daphne.log).parent),
    )
    assert result.returncode == 0, result.stderr
    assert '"type": "room.state"' in result.stdout
    assert "Closed (1000)" in result.stdout
    (message,) = ChatMessage.objects.filter(session=live_session)
    assert (message.sender_id, message.text) == (cast.facilitator.pk, "hello from the terminal")


def test_client_reports_an_unreachable_server_without_a_traceback():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sessions_app.client",
            "--url",
            f"http://127.0.0.1:{free_port()}",
            "--username",
            "alex",
            "--password",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=settings.BASE_DIR,
    )
    assert result.returncode == 1
    assert "Cannot reach" in result.stderr and "Traceback" not in result.stderr
