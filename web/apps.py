from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser client: one page and its static modules, speaking only HTTP and the
    room protocol (it imports nothing from the apps)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "web"
    verbose_name = "Web client"
