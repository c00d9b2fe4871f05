"""What the browser tests do on a page: sign in, check accessibility and width, and record
every request so none leaves the origin."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tests.web.conftest import PASSWORD

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
JOIN = re.compile(r"^Join")


class Origin:
    """Every request and WebSocket a browser context opens, and those that left ``origin``."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.ws_origin = "ws" + origin.removeprefix("http")
        self.seen: list[str] = []

    def watch(self, context: Any) -> Any:
        context.on("request", lambda request: self.seen.append(request.url))
        context.on("page", lambda page: page.on("websocket", lambda ws: self.seen.append(ws.url)))
        return context

    @property
    def outside(self) -> list[str]:
        allowed = (self.origin + "/", self.ws_origin + "/", "data:")
        return [url for url in self.seen if not url.startswith(allowed)]


def sign_in(page: Any, origin: str, username: str) -> None:
    page.goto(origin + "/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=re.compile("^Hello")).wait_for()


def serious_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes)"
        for violation in results.response["violations"]
        if violation.get("impact") in ("serious", "critical")
    ]


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than its viewport (0 when nothing scrolls)."""
    return int(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


def screenshot(page: Any, name: str) -> None:
    """Refresh docs/screenshots/NAME.png when asked (VIOIP_SCREENSHOTS=1), so an ordinary
    test run leaves the committed images alone."""
    if os.environ.get("VIOIP_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
