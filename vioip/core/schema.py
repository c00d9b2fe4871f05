"""The OpenAPI schema's house rules, applied to every operation in one place.

- Every operation has a summary: ``extend_schema(summary=...)`` if the view gives one, else
  the first paragraph of the handler's or the view's docstring (the rest stays the
  description), else one made from the operation's id.
- Every operation documents the errors it can answer, all with the standard error body
  (``vioip.core.errors``): 400 when it takes a body or query filters, 413 when it takes a
  body, 401 and 403 unless anyone may call it, 404 on a route naming a record, 429 when it
  is throttled. A response the view documents itself is left as it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    """The one error body of the API."""

    class Meta:
        ref_name = "Error"

    def get_fields(self) -> dict[str, serializers.Field]:
        # Built here: a declared attribute named ``fields`` would hide Serializer.fields.
        return {
            "code": serializers.CharField(help_text="A stable, machine-readable error code."),
            "detail": serializers.CharField(help_text="What went wrong, for a person."),
            "fields": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField()),
                required=False,
                help_text="On a 400: the messages per field (`non_field_errors` for the body).",
            ),
            "ref": serializers.CharField(
                required=False,
                help_text="On a 500: the reference to quote; the server log has it.",
            ),
        }


# Query parameters every paginated list takes; a bad page is a 404, not a 400.
_PAGE_PARAMETERS = {"page", "page_size"}

_ERRORS = {
    "400": "Invalid input: `fields` names each field in error; nothing was changed.",
    "401": "No valid token: log in and send `Authorization: Bearer <token>`.",
    "403": "The caller's role may not do this.",
    "404": "Not found, or not visible to the caller (the two are not told apart).",
    "413": "The request body is larger than the server accepts.",
    "429": "Too many requests: try again after `Retry-After` seconds.",
}

# Longest first: "partial_update" before "update".
_VERBS = [
    ("partial_update", "Update"),
    ("retrieve", "Get"),
    ("destroy", "Delete"),
    ("create", "Create"),
    ("update", "Replace"),
    ("list", "List"),
]
_HANDLERS = ("get", "post", "put", "patch", "delete")


def _own_doc(obj: Any) -> str:
    # The object's own docstring: one inherited from a base view describes the base, not
    # this operation.
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return inspect.cleandoc(doc) if doc else ""


def _first_paragraph(doc: str) -> tuple[str, str]:
    first, _, rest = doc.strip().partition("\n\n")
    return " ".join(first.split()), rest.strip()


class AutoSchema(SpectacularAutoSchema):
    def _docstring(self) -> str:
        view_class = self.view.__class__
        handler = getattr(view_class, getattr(self.view, "action", None) or self.method.lower())
        doc = _own_doc(handler)
        if doc:
            return doc
        # The view's docstring names the operation only when the view has just the one.
        handlers = [name for name in _HANDLERS if hasattr(view_class, name)]
        if getattr(self.view, "action", None) is None and len(handlers) == 1:
            return _own_doc(view_class)
        return ""

    def get_summary(self) -> str | None:
        # extend_schema(summary=...) replaces this method; otherwise the docstring speaks.
        summary, _ = _first_paragraph(self._docstring())
        return summary or self._summary_from_operation_id()

    def get_description(self) -> str:  # type: ignore[override]
        # extend_schema(description=...) replaces this method.
        doc = self._docstring()
        if doc:
            return _first_paragraph(doc)[1]
        return _own_doc(self.view.__class__)

    def _summary_from_operation_id(self) -> str:
        words = self.get_operation_id().split("_")
        for suffix, verb in _VERBS:
            parts = suffix.split("_")
            if words[-len(parts) :] == parts:
                return " ".join([verb, *words[: -len(parts)]]).replace("-", " ").capitalize()
        return " ".join(words).replace("-", " ").capitalize()

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(operation):
            if code not in responses:
                responses[code] = self._error_response(code)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        has_body = "requestBody" in operation
        filters = {
            parameter["name"]
            for parameter in operation.get("parameters", [])
            if parameter.get("in") == "query"
        } - _PAGE_PARAMETERS
        open_to_anyone = all(
            isinstance(permission, AllowAny) for permission in self.view.get_permissions()
        )
        codes = []
        if has_body or filters:
            codes.append("400")
        if not open_to_anyone:
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if has_body:
            codes.append("413")
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _error_response(self, code: str) -> dict[str, Any]:
        component = self.resolve_serializer(ErrorSerializer, "response")
        return {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": component.ref}},
        }


# --- The pages that show the schema ------------------------------------------------------------
# Swagger UI and Redoc come from drf-spectacular-sidecar (served by whitenoise, same origin).
# Swagger UI's start script is a file of its own (SpectacularSwaggerSplitView, vioip/urls.py),
# so no script runs inline. Styles stay 'unsafe-inline': both pages put a <style> block in
# the HTML and Redoc injects its styles at run time. Redoc's search index runs in a worker
# made from a blob: URL, which is the page's own code.
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def with_docs_csp(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The docs pages' Content-Security-Policy: nothing from any other origin."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response

    return wrapped
