from django.urls import URLPattern, URLResolver, path

from sessions_app.rooms import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("sessions/<int:session_id>/ticket/", apis.TicketApi.as_view(), name="room-ticket"),
    path(
        "sessions/<int:session_id>/messages/",
        apis.MessageListApi.as_view(),
        name="room-messages",
    ),
    path(
        "sessions/<int:session_id>/attendance/",
        apis.AttendanceApi.as_view(),
        name="room-attendance",
    ),
]
