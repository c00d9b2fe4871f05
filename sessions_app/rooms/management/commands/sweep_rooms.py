from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connections

from sessions_app.rooms import entry
from vioip.audit import noise

logger = logging.getLogger("vioip.rooms")


class Command(BaseCommand):
    help = (
        "Take out of every room the participants whose presence expired, and close their "
        "attendance; write the held-back counts of unidentified failures to the audit trail. "
        "Run it every minute (or keep it running with --every 60); live consumers also sweep "
        "their own rooms on every heartbeat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=int,
            metavar="SECONDS",
            help="Keep running and sweep every SECONDS (at least 1) until SIGTERM or SIGINT.",
        )
        parser.add_argument(
            "--heartbeat",
            metavar="FILE",
            help="With --every: touch FILE after each sweep that completed (for a healthcheck).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = options.get("every")
        if every is None:
            self.sweep()
            return
        if every < 1:
            self.stderr.write("--every must be at least 1 second.")
            raise SystemExit(2)
        heartbeat = Path(options["heartbeat"]) if options.get("heartbeat") else None
        self.sweep_until_stopped(every, heartbeat)

    def sweep(self) -> None:
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
        left = entry.rooms_sweep()
        self.stdout.write(f"{left} participant(s) taken out of rooms.")

    def sweep_until_stopped(self, every: int, heartbeat: Path | None) -> None:
        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        # A container stop (SIGTERM) ends the loop between sweeps; one in progress finishes.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not stop.is_set():
            started = time.monotonic()
            close_old_connections()
            try:
                self.sweep()
            except Exception as exc:
                # A database or Redis outage must not end the loop: the next minute retries.
                logger.error("sweep failed error=%s", type(exc).__name__)
                connections.close_all()
            else:
                if heartbeat is not None:
                    heartbeat.touch()
            self.stdout.flush()
            stop.wait(max(0.0, every - (time.monotonic() - started)))
        connections.close_all()
        self.stdout.write("Sweep stopped.")
