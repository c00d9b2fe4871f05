from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "vioip.core"
    label = "core"
    verbose_name = "vioip core"
