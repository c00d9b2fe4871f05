"""Schemathesis against ``/api/schema/``: no 500s, and every documented response matches the
schema, whoever calls. Requests go through Django's WSGI app in this process, inside the
test's transaction on the suite's test database.

One test per operation, derandomized. Its cases come from three sources: the schema's
examples, a few fuzzed cases, and schemathesis' coverage phase (boundary values, missing and
mistyped fields, other methods). Example and fuzzed cases go to every role and to a caller
without a valid token. Coverage cases are many (about 5,000 in all), so each goes to one
caller: the first in ``DEPTH_ORDER`` the operation has not refused, since a refusal by role
does not depend on the input. That keeps the module near two minutes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import response_schema_conformance

from vioip.accounts.tokens import token_issue
from vioip.core.parsers import MAX_JSON_DEPTH

# Explicit, so a schemathesis.toml found in a parent directory cannot change what CI runs.
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {
            "examples": {"enabled": True},
            "fuzzing": {"enabled": True},
            "coverage": {"enabled": True},
            "stateful": {"enabled": False},
        }
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)

# "anonymous" sends whatever Authorization header schemathesis generated: none, or a bad one.
ROLES = ["anonymous", "patient", "facilitator", "clinician", "admin", "auditor", "outsider"]
# Who gets a coverage case: the first of these the operation has not refused.
DEPTH_ORDER = ["admin", "clinician", "facilitator", "patient", "auditor", "outsider", "anonymous"]
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    # The test's data lives in an open transaction on this thread's connection. The WSGI
    # handler's request signals would close that connection (autocommit is off inside the
    # transaction), and every later query would fail with "the connection is closed".
    # Django's test client disconnects the same receivers for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def callers(cast: Any) -> dict[str, dict[str, str]]:
    """Request headers per role. Foreign keys are checked at each statement: outside a test
    they are checked when each request's transaction commits, and a violation there is a
    500, which a check deferred to the end of the test would hide."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    headers = {}
    for role in ROLES:
        headers[role] = {"Host": "testserver"}
        if role != "anonymous":
            raw = token_issue(user=getattr(cast, role)).raw
            headers[role]["Authorization"] = f"Bearer {raw}"
    return headers


@pytest.fixture
def refused() -> set[str]:
    """Roles this operation has refused so far (one test, all of its cases)."""
    return set()


def _refuses(role: str, status: int) -> bool:
    # 403 is a refusal by role. A 401 with a valid token comes from a case that removed or
    # spoiled the Authorization header: it says nothing about the role.
    return status == 403 or (status == 401 and role == "anonymous")


def _send(case: Any, role: str, headers: dict[str, str], refused: set[str]) -> None:
    response = case.call(headers=headers)
    if _refuses(role, response.status_code):
        refused.add(role)
    try:
        case.validate_response(response, checks=CHECKS)
    except (AssertionError, BaseExceptionGroup) as exc:
        exc.add_note(f"Sent as: {role}")
        raise


@schema.parametrize()
@settings(
    max_examples=5,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_never_fails_and_matches_its_schema_for_any_role(
    case: Any, callers: dict[str, dict[str, str]], refused: set[str]
) -> None:
    if case.meta is not None and case.meta.phase.name == TestPhase.COVERAGE:
        for role in DEPTH_ORDER:
            if role in refused:
                continue
            _send(case, role, callers[role], refused)
            if role not in refused:
                break
        return
    for role, headers in callers.items():
        _send(case, role, headers, refused)


# --- Hostile bodies --------------------------------------------------------------------------
# Bodies schemathesis does not make: JSON nested past the parser's recursion, lone surrogates
# (valid JSON escapes, not text), bodies over the upload limit and bytes that are not UTF-8.
# Every operation that reads a body answers them with a 4xx and the standard error body.

_WRITES = [
    (path, method)
    for path, ops in schema.raw_schema["paths"].items()
    for method, op in ops.items()
    if method in {"post", "put", "patch"} and "requestBody" in op and "logout" not in path
]


def _nested(depth: int, shape: str) -> str:
    if shape == "list":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"a": [' * (depth // 2) + "1" + "]}" * (depth // 2)


_surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_hostile_bodies = st.one_of(
    st.builds(
        _nested, st.integers(2 * MAX_JSON_DEPTH, 6000), st.sampled_from(["list", "object", "mixed"])
    ),
    # json.dumps escapes a lone surrogate as \\udxxx: exactly what an attacker sends.
    st.builds(
        lambda key, value, s: json.dumps({key: value + s, "text": s, "reason": s}),
        st.sampled_from(["kind", "patient", "text", "reason", "name"]),
        st.text(max_size=20),
        _surrogates,
    ),
    st.builds(lambda s: json.dumps({s: 1}), _surrogates),
    st.integers(1, 2 * 1024 * 1024).map(
        lambda n: '{"text": "' + "x" * (django_settings.DATA_UPLOAD_MAX_MEMORY_SIZE + n) + '"}'
    ),
    st.binary(min_size=1, max_size=64).map(lambda b: b'{"text": "' + b"\xff" + b + b'"}'),
)


@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(_WRITES),
    role=st.sampled_from(["admin", "clinician", "facilitator", "patient"]),
    body=_hostile_bodies,
)
def test_hostile_bodies_get_a_4xx_with_the_standard_body(
    client_for: Any, cast: Any, target: tuple[str, str], role: str, body: str | bytes
) -> None:
    path, method = target
    url = re.sub(r"\{\w+\}", str(cast.cohort.pk), path)
    client = client_for(getattr(cast, role))
    response = getattr(client, method)(url, body, content_type="application/json")
    assert 400 <= response.status_code < 500, (method, url, response.status_code)
    error = response.json()
    assert isinstance(error.get("code"), str) and isinstance(error.get("detail"), str)
    if response.status_code == 400:
        assert error["code"] == "parse_error", (method, url, error)
