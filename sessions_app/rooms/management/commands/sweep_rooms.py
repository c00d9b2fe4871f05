from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sessions_app.rooms import services
from vioip.audit import noise


class Command(BaseCommand):
    help = (
        "Take out of every room the participants whose presence expired, and close their "
        "attendance; write the held-back counts of unidentified failures to the audit trail. "
        "Run it every minute; live consumers also sweep their own rooms on every heartbeat."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # The counts of unidentified failures (bad tickets, failed logins) held back in
        # minutes that have ended reach the audit trail even when the spray has stopped.
        coalesced = noise.flush_due()
        if coalesced:
            self.stdout.write(f"{coalesced} coalesced audit event(s) written.")
        if not settings.REDIS_URL:
            # In-memory presence belongs to the daphne process; from here everyone would
            # look gone.
            self.stdout.write("Presence is in-process (no REDIS_URL): nothing to sweep from here.")
            return
        left = services.rooms_sweep()
        self.stdout.write(f"{left} participant(s) taken out of rooms.")
