"""Encryption at rest for clinical text.

``EncryptedTextField`` stores a Fernet token (AES-128-CBC + HMAC-SHA256) in a text column.
``VIOIP_FIELD_KEYS`` is a list: the first key encrypts, every key decrypts, so a new key is
put in front, every process restarted, and ``manage.py rotate_field_keys`` re-encrypts the
old values; then the old key can be dropped. No downtime at any step.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models

# Prefix marking a stored value as ours; it lets rotation skip values that are not tokens
# and makes a plaintext column that slipped past the field easy to find.
PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def field_cipher() -> MultiFernet:
    keys = tuple(settings.FIELD_ENCRYPTION_KEYS)
    if not keys:
        raise ImproperlyConfigured("No field encryption keys are configured.")
    return _multifernet(keys)


def encrypt_text(value: str) -> str:
    return PREFIX + field_cipher().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt_text(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise ValueError("Stored value is not an encrypted token.")
    try:
        return field_cipher().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "An encrypted value cannot be decrypted with any key in VIOIP_FIELD_KEYS."
        ) from exc


def rotate_stored(stored: str) -> str:
    token = stored[len(PREFIX) :].encode("ascii")
    return PREFIX + field_cipher().rotate(token).decode("ascii")


class EncryptedTextField(models.TextField):
    """A text field whose column holds only ciphertext. It cannot be filtered or ordered on.

    Subclasses keep a Python type (decimal, boolean, JSON) over the same ciphertext column:
    they say how a value becomes text (``to_text``) and back (``from_text``)."""

    description = "Text encrypted at rest"

    def from_text(self, text: str) -> Any:
        return text

    def to_text(self, value: Any) -> str:
        return str(value)

    def from_plain(self, raw: Any) -> Any:
        """A value read from the column while it was still in clear (data migrations)."""
        return self.from_text(raw if isinstance(raw, str) else str(raw))

    def to_plain(self, value: Any) -> Any:
        """A value as the column held it in clear (reverse data migrations)."""
        return self.to_text(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_text(decrypt_text(value))

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            if value.startswith(PREFIX):
                return self.from_text(decrypt_text(value))
            return self.from_text(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        value = self.to_python(value)
        if value is None:
            return None
        return encrypt_text(self.to_text(value))

    def value_to_string(self, obj: Any) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else self.to_text(value)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"isnull"}:
            # Ciphertext is randomised: an equality lookup would silently never match.
            return None
        return super().get_lookup(lookup_name)


class EncryptedDecimalField(EncryptedTextField):
    """A decimal encrypted at rest; read back quantized to ``decimal_places`` on every
    database, as a ``DecimalField`` would be."""

    description = "Decimal encrypted at rest"

    def __init__(self, *args: Any, decimal_places: int = 4, **kwargs: Any) -> None:
        self.decimal_places = decimal_places
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def _quantize(self, value: Decimal) -> Decimal:
        return value.quantize(Decimal(1).scaleb(-self.decimal_places))

    def from_text(self, text: str) -> Decimal:
        try:
            return self._quantize(Decimal(text))
        except InvalidOperation as exc:
            raise ValidationError("A decimal number is required.", code="invalid") from exc

    def to_python(self, value: Any) -> Any:
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            return self._quantize(Decimal(str(value)))
        return super().to_python(value)

    def to_text(self, value: Any) -> str:
        return str(value)


class EncryptedBooleanField(EncryptedTextField):
    description = "Boolean encrypted at rest"

    def from_text(self, text: str) -> bool:
        return text.strip().lower() in {"1", "true", "t"}

    def from_plain(self, raw: Any) -> bool:
        if isinstance(raw, (bool, int)):
            return bool(raw)
        return self.from_text(str(raw))

    def to_text(self, value: Any) -> str:
        return "true" if value else "false"

    def to_plain(self, value: Any) -> str:
        # "1"/"0": SQLite's numeric affinity stores an integer, PostgreSQL casts to boolean.
        return "1" if value else "0"


class EncryptedJSONField(EncryptedTextField):
    """A JSON document encrypted at rest (no lookups into it)."""

    description = "JSON encrypted at rest"

    def from_text(self, text: str) -> Any:
        return json.loads(text)

    def from_plain(self, raw: Any) -> Any:
        return json.loads(raw) if isinstance(raw, str) else raw

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.startswith(PREFIX):
            # A plain str given by code is the document itself, not its JSON text.
            return value
        return super().to_python(value)

    def to_text(self, value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))


def encrypt_columns(model_label: str, field_names: list[str], batch_size: int = 500) -> Any:
    """A ``RunPython`` pair that encrypts a column left in clear by an ``AlterField`` to an
    encrypted field, and decrypts it back to clear before the reverse ``AlterField``.

    Raw SQL: the historical model would try to decrypt the clear values, and append-only
    models refuse ``save()``."""

    def _run(apps: Any, schema_editor: Any, *, forward: bool) -> None:
        model = apps.get_model(model_label)
        connection = schema_editor.connection
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        pk_col = quote(model._meta.pk.column)
        for name in field_names:
            field = model._meta.get_field(name)
            col = quote(field.column)
            last_pk: Any = None
            while True:
                # Batches in key order: a large table is never held in memory at once.
                with connection.cursor() as cursor:
                    after = f" AND {pk_col} > %s" if last_pk is not None else ""
                    cursor.execute(
                        f"SELECT {pk_col}, {col} FROM {table} "  # noqa: S608
                        f"WHERE {col} IS NOT NULL{after} ORDER BY {pk_col} LIMIT %s",
                        [*([last_pk] if last_pk is not None else []), batch_size],
                    )
                    rows = cursor.fetchall()
                    for pk, stored in rows:
                        is_token = isinstance(stored, str) and stored.startswith(PREFIX)
                        if forward and not is_token:
                            new = encrypt_text(field.to_text(field.from_plain(stored)))
                        elif not forward and is_token:
                            new = field.to_plain(field.from_text(decrypt_text(stored)))
                        else:
                            continue
                        cursor.execute(
                            f"UPDATE {table} SET {col} = %s WHERE {pk_col} = %s",  # noqa: S608
                            [new, pk],
                        )
                if len(rows) < batch_size:
                    break
                last_pk = rows[-1][0]
        if connection.vendor == "postgresql":
            # The updates queue deferred foreign-key checks; PostgreSQL refuses to alter a
            # table with pending trigger events (the reverse AlterField after this runs).
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def forward(apps: Any, schema_editor: Any) -> None:
        _run(apps, schema_editor, forward=True)

    def backward(apps: Any, schema_editor: Any) -> None:
        _run(apps, schema_editor, forward=False)

    return forward, backward
