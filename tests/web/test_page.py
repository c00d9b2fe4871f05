"""The page itself over HTTP (no browser): its addresses, its security headers, the size of
what it loads, and that the client follows the room protocol's single list."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from sessions_app.rooms import protocol

STATIC = Path(__file__).resolve().parents[2] / "web" / "static" / "web"


def _directives(policy: str) -> dict[str, list[str]]:
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


@pytest.mark.parametrize("path", ["/", "/sign-in", "/security", "/records", "/sessions/43"])
def test_every_client_address_serves_the_page(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert b'<script type="module" src="/static/web/app.js">' in response.content


def test_the_page_allows_nothing_from_another_origin_and_no_inline_code(client):
    response = client.get("/")
    directives = _directives(response["Content-Security-Policy"])
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["img-src"] == ["'self'", "data:"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]
    html = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert "<style" not in html and " style=" not in html
    assert "camera=()" in response["Permissions-Policy"]
    assert response["X-Frame-Options"] == "DENY"


def test_the_page_answers_only_reads(client):
    assert client.post("/").status_code == 405
    assert client.get("/sessions/not-a-number").status_code == 404


def test_the_modules_and_styles_are_served_as_they_are(client):
    for name in ("app.js", "room.js", "api.js", "protocol.js", "dom.js", "app.css"):
        response = client.get(f"/static/web/{name}")
        assert response.status_code == 200, name
        body = b"".join(response.streaming_content)
        assert body == (STATIC / name).read_bytes()


def test_the_client_weighs_under_100_kb_compressed():
    files = [*STATIC.rglob("*.js"), *STATIC.rglob("*.mjs"), *STATIC.rglob("*.css")]
    total = sum(len(gzip.compress(path.read_bytes())) for path in files)
    assert total < 100 * 1024, total


def _js_list(name: str) -> set[str]:
    source = (STATIC / "protocol.js").read_text()
    block = re.search(rf"export const {name} = \[(.*?)\];", source, re.S)
    assert block is not None, name
    return set(re.findall(r'"([a-z_.]+)"', block.group(1)))


def _js_closes() -> dict[int, str]:
    source = (STATIC / "protocol.js").read_text()
    block = re.search(r"export const CLOSES = \{(.*?)\n\};", source, re.S)
    assert block is not None
    return {
        int(code): retry
        for code, retry in re.findall(r"(\d{4}): \{ retry: ([^,]+),", block.group(1))
    }


def test_the_client_sends_exactly_the_protocols_client_frames():
    assert _js_list("SENDS") == set(protocol.CLIENT_FRAMES)


def test_the_client_handles_exactly_the_protocols_server_frames():
    assert _js_list("HANDLES") == set(protocol.SERVER_FRAMES)


def test_the_client_has_a_sentence_for_every_close_code_and_retries_as_it_says():
    closes = _js_closes()
    for code, close in protocol.CLOSE_CODES.items():
        assert code in closes, code
        if code == 1001:
            # "Going away" is also how a server that shuts down for a restart says goodbye:
            # the page comes back with a fresh ticket rather than leave a patient outside.
            assert closes[code] != "false"
            continue
        assert (closes[code] != "false") == close.retry, code


def test_the_client_explains_only_error_codes_the_protocol_has():
    source = (STATIC / "protocol.js").read_text()
    block = re.search(r"export const ERRORS = \{(.*?)\n\};", source, re.S)
    assert block is not None
    assert set(re.findall(r"^  ([a-z_]+):", block.group(1), re.M)) <= set(protocol.ERROR_CODES)
