import importlib
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

# Each app adds its part of the demo program in a ``demo.seed(context)`` function; they
# run in this order and share ``context`` (users, cohorts, sessions ...). Every seeder
# is idempotent: running the command twice creates nothing new.
SEEDERS = [
    "vioip.accounts.demo",
    "groups.demo",
    "sessions_app.demo",
    "sessions_app.rooms.demo",
    "sessions_app.attendance.demo",
    "groups.notes.demo",
    "screening.demo",
]


class Command(BaseCommand):
    help = "Create a demo program to log in to. Refuses to run unless VIOIP_DEBUG is on."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo only runs on the embedded default (VIOIP_DEBUG=1): it creates "
                "accounts with a published password."
            )
        context: dict[str, Any] = {}
        with transaction.atomic():
            for name in SEEDERS:
                try:
                    module = importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name != name:
                        raise
                    continue
                module.seed(context)
        from vioip.accounts.demo import DEMO_PASSWORD

        self.stdout.write(f"Demo program ready. Logins (password for all: {DEMO_PASSWORD}):")
        for username, role in context.get("logins", []):
            self.stdout.write(f"  {username:<12} {role}")
        for line in context.get("notes", []):
            self.stdout.write(line)
