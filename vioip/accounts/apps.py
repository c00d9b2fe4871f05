from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "vioip.accounts"
    label = "accounts"
    verbose_name = "Users and roles"

    def ready(self) -> None:
        from vioip.accounts import schema  # noqa: F401  registers the OpenAPI auth scheme
