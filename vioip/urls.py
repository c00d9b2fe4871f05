from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from vioip.core import health
from vioip.core.schema import with_docs_csp

handler404 = "vioip.core.errors.not_found"
handler500 = "vioip.core.errors.server_error"

api_patterns: list[URLPattern | URLResolver] = [
    path("", include("vioip.accounts.urls")),
    path("", include("vioip.audit.urls")),
    path("", include("groups.urls")),
    path("", include("groups.notes.urls")),
    path("", include("sessions_app.urls")),
    path("", include("sessions_app.rooms.urls")),
    path("", include("sessions_app.attendance.urls")),
    path("", include("screening.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI and Redoc from the installed packages (drf-spectacular-sidecar), never a CDN.
    path(
        "docs/",
        with_docs_csp(SpectacularSwaggerSplitView.as_view(url_name="schema")),
        name="docs",
    ),
    path(
        "redoc/",
        with_docs_csp(
            SpectacularRedocView.as_view(url_name="schema", template_name="vioip/redoc.html")
        ),
        name="redoc",
    ),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/", include(api_patterns)),
    path("", include("web.urls")),
]
