"""The canonical Channels chat: the tutorial's group chat, on daphne with channels_redis.

A tiny ASGI application of its own (no vioip code): an async consumer joins the room's
group, ``group_send`` each message, and ``json.dumps`` once per recipient — the pattern of
the Channels tutorial (docs/tutorial/part_3). Nothing is persisted.

    BENCH_REDIS_URL=redis://127.0.0.1:6390/0 BENCH_CHAT_LAYER=core|pubsub \
        daphne -p 8702 bench.chat:application
"""

from __future__ import annotations

import json
import os

import django
from django.conf import settings

_LAYERS = {
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-chat-only",  # noqa: S106 - a throwaway process with no data
        ALLOWED_HOSTS=["*"],
        INSTALLED_APPS=["channels"],
        CHANNEL_LAYERS={
            "default": {
                "BACKEND": _LAYERS[os.environ.get("BENCH_CHAT_LAYER", "core")],
                "CONFIG": {
                    "hosts": [
                        {
                            "address": os.environ["BENCH_REDIS_URL"],
                            # The same two fixes vioip needs on redis-py 8 (STACK-NOTES).
                            "socket_timeout": None,
                            "max_connections": 200,
                        }
                    ],
                },
            }
        },
        USE_TZ=True,
    )
    django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.room_group_name = f"chat_{self.scope['url_route']['kwargs']['room_name']}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()
        await self.channel_layer.group_send(self.room_group_name, {"type": "chat.presence"})

    async def disconnect(self, close_code: int) -> None:
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        text_data_json = json.loads(text_data or "{}")
        message = text_data_json["message"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event: dict[str, str]) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))

    async def chat_presence(self, event: dict[str, str]) -> None:
        await self.send(text_data=json.dumps({"type": "presence.joined"}))


application = ProtocolTypeRouter(
    {
        "websocket": URLRouter(
            [path("room/<str:room_name>/", ChatConsumer.as_asgi())]  # type: ignore[arg-type]
        )
    }
)
