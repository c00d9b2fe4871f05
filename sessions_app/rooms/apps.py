from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "sessions_app.rooms"
    label = "rooms"
    verbose_name = "Live session rooms"
