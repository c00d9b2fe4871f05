from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

# Everything comes from this origin: no inline script or style, no other host. connect-src
# 'self' covers the room's ws:/wss: on the same host (CSP Level 3, as Chromium does).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# A group room is text chat: no camera, microphone or location for anything on the page.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


@require_safe
def index(request: HttpRequest, **_route: Any) -> HttpResponse:
    response = render(request, "web/index.html")
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response["Permissions-Policy"] = PERMISSIONS_POLICY
    response["Cross-Origin-Opener-Policy"] = "same-origin"
    # The page holds no data (the API does), but it changes with each release.
    response["Cache-Control"] = "no-cache"
    return response
