from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "vioip.core"
    label = "core"
    verbose_name = "vioip core"

    def ready(self) -> None:
        from vioip.core import lookups, pg_types

        pg_types.connect()
        lookups.register()
