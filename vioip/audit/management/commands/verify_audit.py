from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from vioip.audit.services import Checkpoint, CheckpointError, chain_verify, checkpoint_parse


class Command(BaseCommand):
    help = (
        "Verify the audit trail: its hash chain, its signed head, that it is not empty in a "
        "database with users, and (--checkpoint) that it still holds every event a signed "
        "checkpoint vouched for. Exits non-zero naming the first problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoint",
            metavar="FILE",
            help="A file of checkpoints written by audit_checkpoint; every line is checked.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checkpoints = self._read_checkpoints(options["checkpoint"])
        report = chain_verify(checkpoints=checkpoints)
        if not report.intact:
            where = (
                f" at event seq={report.first_broken_seq}"
                if report.first_broken_seq is not None
                else ""
            )
            raise CommandError(
                f"Audit trail broken{where}: {report.problem} "
                f"({report.count} events verified before it)."
            )
        against = f" against {len(checkpoints)} checkpoints" if checkpoints else ""
        self.stdout.write(f"Audit chain intact: {report.count} events verified{against}.")

    def _read_checkpoints(self, path: str | None) -> list[Checkpoint]:
        if path is None:
            return []
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                f"Cannot read the checkpoint file: {exc.__class__.__name__}."
            ) from None
        checkpoints = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                checkpoints.append(checkpoint_parse(line))
            except CheckpointError as exc:
                raise CommandError(f"Checkpoint file line {number}: {exc}.") from None
        if not checkpoints:
            raise CommandError("The checkpoint file holds no checkpoint.")
        return checkpoints
