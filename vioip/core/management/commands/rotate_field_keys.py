from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from vioip.core.fields import PREFIX, EncryptedTextField, rotate_stored


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the first key of VIOIP_FIELD_KEYS. "
        "Run after putting a new key in front; then the old keys can be removed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, batch_size: int = 500, **options: Any) -> None:
        quote = connection.ops.quote_name
        total = 0
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            table = quote(model._meta.db_table)
            pk_col = quote(model._meta.pk.column)
            for field in fields:
                col = quote(field.column)
                # Raw SQL: rotation changes ciphertext only, so it must pass models that
                # refuse edits (signed notes, reviewed results) without touching them.
                last_pk: Any = None
                while True:
                    with transaction.atomic(), connection.cursor() as cursor:
                        where = f"{col} IS NOT NULL" + (
                            f" AND {pk_col} > %s" if last_pk is not None else ""
                        )
                        cursor.execute(
                            f"SELECT {pk_col}, {col} FROM {table} WHERE {where} "  # noqa: S608
                            f"ORDER BY {pk_col} LIMIT %s",
                            [*([last_pk] if last_pk is not None else []), batch_size],
                        )
                        rows = cursor.fetchall()
                        for pk, stored in rows:
                            if stored.startswith(PREFIX):
                                cursor.execute(
                                    f"UPDATE {table} SET {col} = %s WHERE {pk_col} = %s",  # noqa: S608
                                    [rotate_stored(stored), pk],
                                )
                                total += 1
                    if len(rows) < batch_size:
                        break
                    last_pk = rows[-1][0]
        self.stdout.write(f"Re-encrypted {total} values with the current key.")
