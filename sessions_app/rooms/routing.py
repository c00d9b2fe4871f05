from django.urls import URLPattern, URLResolver, path

from sessions_app.rooms.consumers import RoomConsumer

websocket_urlpatterns: list[URLPattern | URLResolver] = [
    path("ws/sessions/<int:session_id>/", RoomConsumer.as_asgi()),  # type: ignore[arg-type]
]
