"""Nothing under ``/api/`` may be kept by a browser, a proxy or a shared cache: nearly
every response there carries protected health information (notes, results, rosters,
attendance, the audit trail), and an error or a schema is no reason to make an exception
that someone has to remember."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

API_PREFIX = "/api/"


class NoStoreApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX):
            # no-store forbids keeping a copy at all; private and max-age=0 cover caches
            # that predate it (add_never_cache_headers sets all three, with no-cache and
            # must-revalidate). Vary nothing: there is nothing to reuse.
            add_never_cache_headers(response)
            response["Pragma"] = "no-cache"
        return response
