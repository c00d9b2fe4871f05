"""One error shape for the whole API.

Every error body is ``{"code": str, "detail": str}``; a 400 for bad input adds
``"fields": {field: [messages]}`` (``non_field_errors`` for errors of the whole body; a
nested field by its dotted path, ``sections.plan`` or ``meeting_days.0``), a 500
``"ref"``: the request id that the server log's lines about it carry, traceback included
(``vioip.core.logging``: frames and exception types, no values). Nothing else reaches a
client: no traceback, no submitted values. ``JsonErrorMiddleware`` holds Django's own error
pages (the debug pages of the embedded default among them) to the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponsePermanentRedirect,
    JsonResponse,
)
from django.urls import is_valid_path
from django.utils.http import escape_leading_slashes
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.middleware import current_request_id

logger = logging.getLogger("vioip.errors")


class NotVisible(Exception):
    """Raised by an access function (``<record>_for_user``) for a record the caller may not
    see, whether it exists or not. The exception handler answers the standard 404 and
    writes the audited denial: the one way a refused lookup is answered and recorded.

    ``patient`` is the patient the record is about, when the record exists; ``attempted``
    says what the caller tried (``read``, ``sign``, ``amend``…)."""

    def __init__(
        self,
        *,
        object_type: str,
        object_id: Any = "",
        patient: Any = None,
        attempted: str = "read",
    ) -> None:
        super().__init__(f"{object_type} not visible")
        self.object_type = object_type
        self.object_id = object_id
        self.patient_id = getattr(patient, "pk", patient)
        self.attempted = attempted


def audit_not_visible(exc: NotVisible, *, actor: Any) -> None:
    """The audited denial of a ``NotVisible`` (HTTP and rooms alike)."""
    audit.record(
        action=Action.DENIED,
        outcome=Outcome.DENIED,
        actor=actor,
        object_type=exc.object_type,
        object_id=exc.object_id,
        patient=exc.patient_id,
        detail={"attempted": exc.attempted, "exists": exc.patient_id is not None},
    )


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this server accepts."
    default_code = "too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The record is in a state that does not allow this change."
    default_code = "conflict"


def _as_field_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's error detail as ``{field: [messages]}``, one level deep whatever the input's
    nesting: an error inside a nested object or a list is keyed by its dotted path
    (``sections.plan``, ``meeting_days.0``, ``analytes.2.value``), so every client reads
    one shape and the schema can say so."""
    errors: dict[str, list[str]] = {}
    here = prefix or "non_field_errors"
    if isinstance(detail, dict):
        for key, value in detail.items():
            errors.update(_as_field_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list):
                path = f"{prefix}.{index}" if prefix else str(index)
                errors.update(_as_field_errors(value, path))
            else:
                errors.setdefault(here, []).append(str(value))
    else:
        errors.setdefault(here, []).append(str(detail))
    return errors


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, NotVisible):
        request = context.get("request")
        audit_not_visible(exc, actor=getattr(request, "user", None))
        exc = exceptions.NotFound()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, a malformed multipart body: the client's doing.
        exc = exceptions.ParseError()
    elif isinstance(exc, OverflowError):
        # A number too large for the database to bind (an id of 10**25 in a query or a
        # body): bad input, not a failure. Parameters that name what they bound give a
        # field error before this; this is the backstop for the others.
        logger.warning("out-of-range number in API request ref=%s", current_request_id.get())
        exc = exceptions.ValidationError(
            {"non_field_errors": ["A number in the request is out of range."]}
        )
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # Unexpected: the traceback (no locals, no messages) under the reference the body
        # carries; never the request body (it may be PHI).
        request_id = current_request_id.get()
        logger.error(
            "unhandled %s in API request ref=%s", type(exc).__name__, request_id, exc_info=exc
        )
        return Response(
            {"code": "server_error", "detail": "Internal error.", "ref": request_id},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "The request has invalid fields.",
            "fields": _as_field_errors(exc.detail),
        }
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = exc.get_codes() if not isinstance(detail, (dict, list)) else exc.default_code
        response.data = {"code": str(code), "detail": str(detail)}
    return response


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """handler500: JSON, with a reference to look the request up in the logs."""
    return JsonResponse(
        {
            "code": "server_error",
            "detail": "Internal error.",
            "ref": getattr(request, "request_id", ""),
        },
        status=500,
    )


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def _slash_missing(request: HttpRequest) -> bool:
    """The path has no trailing slash and would exist with one."""
    path = request.path_info
    return not path.endswith("/") and bool(
        is_valid_path(f"{path}/", getattr(request, "urlconf", None))
    )


class JsonErrorMiddleware:
    """Django's own error pages become the API's error body, in every mode: a path that
    matches nothing is the JSON 404 (not the debug page listing every URL), a failure is
    the JSON 500 with its ``ref`` (not the debug page with local variables). DRF's
    responses are left alone; they have the shape already.

    With ``APPEND_SLASH`` off, a path missing only its trailing slash is redirected for
    GET and HEAD, as Django would, and answered 404 naming the right path otherwise: a
    redirected POST would lose its body (and Django's debug mode answers it with a 500)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        status_code = response.status_code
        if (status_code != 404 and status_code < 500) or isinstance(response, Response):
            return response
        replacement: HttpResponse
        if status_code == 404 and _slash_missing(request):
            if request.method in ("GET", "HEAD"):
                replacement = HttpResponsePermanentRedirect(
                    escape_leading_slashes(request.get_full_path(force_append_slash=True))
                )
            else:
                right = escape_leading_slashes(f"{request.path}/")
                replacement = JsonResponse(
                    {
                        "code": "not_found",
                        "detail": f"Not found. This path ends with a slash: {right}",
                    },
                    status=404,
                )
        elif response.get("Content-Type", "").startswith("application/json"):
            return response
        elif status_code >= 500:
            replacement = server_error(request)
        else:
            replacement = not_found(request)
        # Django has logged the original (a 500 with its traceback); not again.
        replacement._has_been_logged = getattr(  # type: ignore[union-attr]
            response, "_has_been_logged", False
        )
        return replacement
