from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "groups.notes"
    label = "notes"
    verbose_name = "Confidential clinical notes"
