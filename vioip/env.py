"""Typed readers for settings that come from the environment.

Each helper fails loudly (``ImproperlyConfigured``) on a value it cannot read,
so a typo in a deployment stops the process at start instead of running with a
silent default. A secret may also be given as ``<NAME>_FILE``: the path of a
file holding it (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points to an unreadable file.") from exc
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}.")
    return value


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number; got {raw!r}.") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a finite number; got {raw!r}.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {value}.")
    return value


def env_choice(name: str, choices: Sequence[str], default: str) -> str:
    """One of ``choices``, matched without regard to case; answered as spelled in them."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    by_key = {choice.lower(): choice for choice in choices}
    try:
        return by_key[raw.strip().lower()]
    except KeyError:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}; got {raw!r}."
        ) from None


def env_url(name: str, *, schemes: Sequence[str]) -> str | None:
    """A URL with one of ``schemes`` and a host (or, for ``sqlite`` and ``unix``, a path);
    None if unset.

    The message names the variable and the schemes, never the value: a URL may hold a
    password."""
    raw = env_str(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    usable = (
        parts is not None
        and parts.scheme in schemes
        and (bool(parts.hostname) or (parts.scheme in {"sqlite", "unix"} and bool(parts.path)))
    )
    if not usable:
        raise ImproperlyConfigured(
            f"{name} is not a valid URL: it must start with "
            f"{' or '.join(f'{scheme}://' for scheme in schemes)} and name a host."
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def local_secret(path: Path, make: str) -> str:
    """Read a secret kept in a local file, creating it on first use.

    Only the embedded default uses this: deployments set the variable.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        if make == "fernet":
            from cryptography.fernet import Fernet

            value = Fernet.generate_key().decode()
        else:
            import secrets

            value = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once keep whichever wrote first.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(value)
    return path.read_text().strip()
