"""The API docs (Swagger UI at /api/docs/, Redoc at /api/redoc/) work without the internet:
every file they load comes from this server, and their Content-Security-Policy refuses
anything from elsewhere."""

from __future__ import annotations

import os
import shutil
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
DOC_PAGES = ["/api/docs/", "/api/redoc/"]


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "spec-url"} and value:
                self.urls.append(value)


def _references(html: str, base: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return [urljoin(base, url) for url in parser.urls]


def _body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def _directives(policy: str) -> dict[str, list[str]]:
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize("page", DOC_PAGES)
def test_docs_page_and_everything_it_references_are_served_here(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    urls = _references(html, f"http://testserver{page}")
    assert len(urls) >= 2, urls  # the page's script(s) and, for Swagger UI, styles
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("http", "testserver"), url
        asset = client.get(parts.path, dict(_query(parts.query)))
        assert asset.status_code == 200, url
        assert _body(asset), url
    # Nothing in the page names another origin (a CDN, web fonts).
    assert "https://" not in html and "http://" not in html.replace("http://testserver", "")


def _query(query: str) -> list[tuple[str, str]]:
    return [tuple(item.partition("=")[::2]) for item in query.split("&") if item]


def test_swagger_ui_loads_its_own_start_script_not_an_inline_one(client):
    html = client.get("/api/docs/").content.decode()
    assert "SwaggerUIBundle(" not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    script = client.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b'url: "/api/schema/"' in script.content


@pytest.mark.parametrize("page", DOC_PAGES)
def test_docs_pages_allow_nothing_from_another_origin(client, page):
    response = client.get(page)
    directives = _directives(response["Content-Security-Policy"])
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    for values in directives.values():
        for value in values:
            assert value in {"'self'", "'none'", "'unsafe-inline'", "data:", "blob:"}, value
    # Inline code is allowed for styles only.
    assert "'unsafe-inline'" not in directives["script-src"]


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM) and shutil.which("chromium"):
        return CHROMIUM
    if os.environ.get("VIOIP_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(f"{CHROMIUM} is required (VIOIP_REQUIRE_SYSTEM_TOOLS=1)")
    pytest.skip(f"{CHROMIUM} is not installed")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("page", "rendered", "blocked_by_policy"),
    [
        ("/api/docs/", ".opblock-summary-path", []),
        # Redoc's sidebar always shows Redocly's logo from their CDN: the policy refuses it.
        ("/api/redoc/", "[data-section-id]", ["https://cdn.redoc.ly/redoc/logo-mini.svg"]),
    ],
)
def test_docs_render_in_a_browser_that_may_reach_nothing_but_this_server(
    live_server, settings, page, rendered, blocked_by_policy
):
    executable = _chromium_or_skip()
    playwright_api = pytest.importorskip("playwright.sync_api")
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    origin = live_server.url
    outside: list[str] = []
    violations: list[str] = []

    def only_this_server(route, request):  # type: ignore[no-untyped-def]
        if request.url.startswith(origin) or request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            browser_page = browser.new_page()
            browser_page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            browser_page.route("**/*", only_this_server)
            browser_page.goto(origin + page)
            browser_page.wait_for_selector(rendered, timeout=30_000)
            assert browser_page.locator(rendered).count() > 10
        finally:
            browser.close()
    # Nothing got past the policy to the network; what the policy refused is known.
    assert outside == []
    assert sorted(url for url in blocked_by_policy if any(url in text for text in violations)) == (
        sorted(blocked_by_policy)
    )
    assert len(violations) == len(blocked_by_policy), violations
