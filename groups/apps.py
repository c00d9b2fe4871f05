from django.apps import AppConfig


class GroupsConfig(AppConfig):
    name = "groups"
    label = "groups"
    verbose_name = "Cohorts, care teams and enrollment"

    def ready(self) -> None:
        from groups import services
        from vioip.accounts.hooks import on_role_change

        # A role change ends the care-team memberships the new role no longer matches.
        on_role_change(services.care_team_end_mismatched)
