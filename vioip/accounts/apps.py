from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "vioip.accounts"
    label = "accounts"
    verbose_name = "Users and roles"
