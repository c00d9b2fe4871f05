"""WebSocket routes of every app, gathered for vioip.asgi."""

from sessions_app.rooms.routing import websocket_urlpatterns as room_patterns

websocket_urlpatterns = [*room_patterns]
