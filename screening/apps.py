from django.apps import AppConfig


class ScreeningConfig(AppConfig):
    name = "screening"
    label = "screening"
    verbose_name = "Drug screening and Part 2 consents"

    def ready(self) -> None:
        from screening.draws.selectors import screening_compliance
        from vioip.core import contributions

        # The discharge summary (attendance) shows compliance counts without naming this
        # app (DESIGN.md, "Layers").
        contributions.screening_compliance.register(screening_compliance)
