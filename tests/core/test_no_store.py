"""Every /api/ response tells browsers and proxies to keep nothing: whatever its status,
whoever asked, in every endpoint family (walked from the URL configuration, so a new
family cannot be missed)."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver


def _api_paths() -> list[str]:
    """Every route under /api/, with 1 for each path parameter."""
    found: list[str] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            # Path converters (<int:pk>) and the router's regex groups ((?P<pk>[^/.]+)).
            segment = re.sub(r"\(\?P<\w+>[^)]*\)|<(?:\w+:)?\w+>", "1", str(pattern.pattern))
            route = prefix + segment.lstrip("^").rstrip("$")
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif not re.search(r"[\\?(]", route):  # not a format-suffix variant
                found.append("/" + route)

    walk(get_resolver().url_patterns, "")
    return sorted(p for p in found if p.startswith("/api/"))


API_PATHS = _api_paths()


def _no_store(response) -> bool:
    directives = {d.strip() for d in response.get("Cache-Control", "").split(",")}
    return "no-store" in directives and response.get("Pragma") == "no-cache"


def test_the_walk_finds_every_family():
    families = {p.split("/")[2] for p in API_PATHS}
    assert {"auth", "users", "audit", "cohorts", "sessions", "notes", "screening", "me"} <= (
        families
    )
    assert "/api/schema/" in API_PATHS


@pytest.mark.parametrize("path", API_PATHS)
@pytest.mark.parametrize("who", ["anonymous", "clinician", "patient", "auditor"])
def test_every_api_response_is_no_store(cast, client_for, path, who):
    client = client_for(None if who == "anonymous" else getattr(cast, who))
    response = client.get(path)
    assert _no_store(response), (path, response.status_code, response.get("Cache-Control"))


def test_errors_and_writes_are_no_store_too(cast, client_for):
    clinician = client_for(cast.clinician)
    assert _no_store(clinician.get("/api/no-such-family/"))
    assert _no_store(clinician.post("/api/notes/", {"kind": "nonsense"}, format="json"))
    assert _no_store(client_for(None).post("/api/auth/login/", {}, format="json"))


def test_outside_the_api_nothing_is_forced(api):
    assert "no-store" not in api.get("/healthz").get("Cache-Control", "")
