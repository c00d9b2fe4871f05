from typing import Any

from django.core.management.base import BaseCommand, CommandError

from vioip.audit.services import chain_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain. Exits non-zero at the first broken event."

    def handle(self, *args: Any, **options: Any) -> None:
        report = chain_verify()
        if not report.intact:
            raise CommandError(
                f"Audit chain broken at event seq={report.first_broken_seq}: {report.problem} "
                f"({report.count} events verified before it)."
            )
        self.stdout.write(f"Audit chain intact: {report.count} events verified.")
