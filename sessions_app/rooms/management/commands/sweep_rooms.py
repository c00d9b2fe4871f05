from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sessions_app.rooms import services


class Command(BaseCommand):
    help = (
        "Take out of every room the participants whose presence expired, and close their "
        "attendance. Run it every minute or so with REDIS_URL set; live consumers also sweep "
        "their own rooms on every heartbeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REDIS_URL:
            # In-memory presence belongs to the daphne process; from here everyone would
            # look gone.
            self.stdout.write("Presence is in-process (no REDIS_URL): nothing to sweep from here.")
            return
        left = services.rooms_sweep()
        self.stdout.write(f"{left} participant(s) taken out of rooms.")
