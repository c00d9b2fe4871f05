"""Request ids: every request gets one, echoed back and written to audit events."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# The audit context: who is asking from where. Set by the HTTP middleware and by the room
# consumer; read by the audit trail, so services and selectors never take ``request``.
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")
current_client_address: ContextVar[str] = ContextVar("current_client_address", default="")


def client_address(request: HttpRequest) -> str:
    """The client's address as the audit trail and the login throttle see it."""
    return request.META.get("REMOTE_ADDR", "") or ""


def client_address_for_scope(scope: dict[str, Any]) -> str:
    """The client's address of an ASGI connection (the room consumer's audit context)."""
    client = scope.get("client") or ("", 0)
    return str(client[0] or "")


class RequestIdMiddleware:
    header = "HTTP_X_REQUEST_ID"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.META.get(self.header, "")
        # A proxy's id is kept when it looks like one; anything else is replaced, so a
        # client cannot smuggle text into the audit trail.
        request_id = supplied if _VALID_ID.match(supplied) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request_id.set(request_id)
        address_token = current_client_address.set(client_address(request))
        try:
            response = self.get_response(request)
        finally:
            current_client_address.reset(address_token)
            current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response
