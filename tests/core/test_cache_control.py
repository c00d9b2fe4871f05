"""No-store on every kind of /api/ answer: each error status the API gives (400, 401, 403,
404, 405, 413, 429, 500, the last both from a view and from below the views), the schema
and its docs, and writes. The walk over every route is in test_no_store.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.middleware.csrf import CsrfViewMiddleware
from django.utils import timezone

from tests.factories import UserFactory


def _assert_no_store(response: Any, status: int) -> None:
    assert response.status_code == status, response.status_code
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    assert "no-store" in directives, response.get("Cache-Control")
    assert response["Pragma"] == "no-cache"


def test_bad_input_is_no_store(cast: Any, client_for: Any):
    response = client_for(cast.clinician).post("/api/notes/", {"kind": "?"}, format="json")
    _assert_no_store(response, 400)
    deep = "[" * 5000 + "]" * 5000
    response = client_for(cast.clinician).post("/api/notes/", deep, content_type="application/json")
    _assert_no_store(response, 400)


def test_refusals_are_no_store(cast: Any, client_for: Any):
    _assert_no_store(client_for(None).get("/api/notes/"), 401)
    _assert_no_store(client_for(cast.patient).get("/api/users/"), 403)
    _assert_no_store(client_for(cast.clinician).get("/api/notes/999999/"), 404)
    _assert_no_store(client_for(cast.clinician).get("/api/nothing-here/"), 404)
    _assert_no_store(client_for(cast.clinician).delete("/api/notes/"), 405)


def test_a_body_too_large_is_no_store(cast: Any, client_for: Any, settings: Any):
    body = '{"text": "' + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE + '"}'
    response = client_for(cast.clinician).post("/api/notes/", body, content_type="application/json")
    _assert_no_store(response, 413)


def test_a_throttled_login_is_no_store(db: Any, api: Any, settings: Any):
    UserFactory(username="maria")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(settings.LOGIN_FAILURES_PER_USERNAME_AND_ADDRESS):
            api.post("/api/auth/login/", {"username": "maria", "password": "no"}, format="json")
        clock.shift(dt.timedelta(minutes=1))
        response = api.post(
            "/api/auth/login/", {"username": "maria", "password": "no"}, format="json"
        )
    _assert_no_store(response, 429)


@pytest.fixture
def failing_client(client_for: Any, cast: Any) -> Any:
    client = client_for(cast.clinician)
    client.raise_request_exception = False
    return client


def test_a_failure_in_a_view_is_no_store(failing_client: Any, monkeypatch: Any):
    from groups.notes import apis

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(apis.NoteListCreateApi, "get", broken)
    _assert_no_store(failing_client.get("/api/notes/"), 500)


def test_a_failure_below_the_views_is_no_store(failing_client: Any, monkeypatch: Any):
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(CsrfViewMiddleware, "process_view", broken)
    response = failing_client.get("/api/notes/")
    _assert_no_store(response, 500)
    assert response.json()["code"] == "server_error"


@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_the_schema_and_its_docs_are_no_store(cast: Any, client_for: Any, path: str):
    _assert_no_store(client_for(cast.clinician).get(path), 200)
    _assert_no_store(client_for(None).get(path), 200)
