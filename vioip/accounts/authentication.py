from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from vioip.accounts import mfa_gate
from vioip.accounts.tokens import token_authenticate


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``. A bad or expired token is a 401, never anonymous;
    a token that must first enrol a second factor is a 403 ``mfa_required`` on every view
    but the few marked for it (``vioip.accounts.mfa_gate``)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from exc
        token = token_authenticate(raw)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        context = getattr(request, "parser_context", None) or {}
        mfa_gate.check(token=token, view=context.get("view"))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
