"""Encryption at rest for clinical text.

``EncryptedTextField`` stores a Fernet token (AES-128-CBC + HMAC-SHA256) in a text column.
``VIOIP_FIELD_KEYS`` is a list: the first key encrypts, every key decrypts, so a new key is
put in front, every process restarted, and ``manage.py rotate_field_keys`` re-encrypts the
old values; then the old key can be dropped. No downtime at any step.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
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
    """A text field whose column holds only ciphertext. It cannot be filtered or ordered on."""

    description = "Text encrypted at rest"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str | None:
        if value is None:
            return None
        return decrypt_text(value)

    def to_python(self, value: Any) -> str | None:
        if value is None or not isinstance(value, str):
            return value
        if value.startswith(PREFIX):
            return decrypt_text(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        value = super().get_prep_value(value)
        if value is None:
            return None
        return encrypt_text(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"isnull"}:
            # Ciphertext is randomised: an equality lookup would silently never match.
            return None
        return super().get_lookup(lookup_name)
