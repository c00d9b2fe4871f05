"""Django's ``createsuperuser``, audited: the first admin of a fresh install is the first
event of its audit trail, so ``verify_audit`` holds from the first user on (an empty trail
in a database that has users means it was emptied)."""

from typing import Any

from django.contrib.auth.management.commands import createsuperuser
from django.db import transaction
from django.db.models import Max

from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action


class Command(createsuperuser.Command):
    help = "Create an admin (the role every superuser has). Audited."

    def handle(self, *args: Any, **options: Any) -> None:
        database = options["database"]
        users = User.objects.db_manager(database)
        before = users.aggregate(last=Max("pk"))["last"] or 0
        super().handle(*args, **options)
        with transaction.atomic(using=database):
            for user in users.filter(pk__gt=before, is_superuser=True):
                audit.record(
                    action=Action.CREATE,
                    actor=None,
                    object_type="user",
                    object_id=user.pk,
                    detail={"role": user.role, "via": "createsuperuser"},
                )
