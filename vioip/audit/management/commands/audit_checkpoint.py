from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from vioip.audit.services import CheckpointError, checkpoint_take


class Command(BaseCommand):
    help = (
        "Write a signed checkpoint of the audit chain head (one JSON line: seq, hash, time, "
        "mac) to stdout for a log shipper, or append it to --output FILE. Keep checkpoints "
        "outside the database; verify_audit --checkpoint FILE checks the trail against them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", metavar="FILE", help="Append the checkpoint to FILE.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            checkpoint = checkpoint_take()
        except CheckpointError as exc:
            raise CommandError(f"No checkpoint written: {exc}.") from None
        line = checkpoint.to_line()
        if options["output"] is None:
            self.stdout.write(line)
            return
        try:
            with Path(options["output"]).open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        except OSError as exc:
            raise CommandError(f"Cannot append to the checkpoint file: {exc.strerror}.") from None
