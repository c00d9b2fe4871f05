from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from vioip.accounts import services
from vioip.accounts.models import User


class Command(BaseCommand):
    help = (
        "Clear the login throttling of USERNAME (its counters from every address; an "
        "address's own limit stays). Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = services.user_unlock(username=options["username"])
        except User.DoesNotExist as exc:
            raise CommandError("No user has that username.") from exc
        self.stdout.write(f"Login throttling cleared for user {user.pk}.")
