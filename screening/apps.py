from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    label = "screening"
    verbose_name = "Drug screening and Part 2 consents"
