from django.urls import URLPattern, URLResolver, path

from sessions_app import apis

# Explicit paths only: sessions_app.rooms adds /sessions/<id>/ticket/, messages/ and
# attendance/ next to these.
urlpatterns: list[URLPattern | URLResolver] = [
    path("sessions/", apis.SessionListApi.as_view(), name="session-list"),
    path("sessions/<int:session_id>/", apis.SessionDetailApi.as_view(), name="session-detail"),
    path(
        "sessions/<int:session_id>/cancel/", apis.SessionCancelApi.as_view(), name="session-cancel"
    ),
    path(
        "cohorts/<int:cohort_id>/sessions/generate/",
        apis.ScheduleGenerateApi.as_view(),
        name="cohort-sessions-generate",
    ),
    path("me/sessions/", apis.MySessionListApi.as_view(), name="me-sessions"),
]
