"""Writes for users and sessions of use (login, logout, account changes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest

from vioip.accounts import hooks
from vioip.accounts.models import AuthToken, Role, User
from vioip.accounts.tokens import IssuedToken, token_issue, token_revoke, tokens_revoke_for_user
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.middleware import client_address
from vioip.core.revocation import access_changed


class LoginThrottled(Exception):
    pass


class LoginFailed(Exception):
    pass


def _failure_keys(username: str, address: str) -> tuple[str, str]:
    return (f"login-fail:user:{username.lower()[:150]}", f"login-fail:addr:{address}")


def _failures_exceeded(username: str, address: str) -> bool:
    user_key, addr_key = _failure_keys(username, address)
    return (cache.get(user_key, 0) >= settings.LOGIN_FAILURES_PER_USERNAME) or (
        cache.get(addr_key, 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
    )


def _count_failure(username: str, address: str) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_MINUTES * 60
    for key in _failure_keys(username, address):
        # add() is atomic; incr() then counts on every process sharing the cache.
        cache.add(key, 0, timeout=window)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, timeout=window)


@dataclass(frozen=True)
class LoginResult:
    user: User
    issued: IssuedToken


def login(*, username: str, password: str, request: HttpRequest) -> LoginResult:
    """Check credentials and issue a token.

    Failures are counted per username and per address; past the limit every attempt is
    refused with ``LoginThrottled`` (even a right password) until the window passes.
    Every outcome is audited.
    """
    address = client_address(request)
    known = User.objects.filter(username=username).first()
    if _failures_exceeded(username, address):
        audit.record(
            action=Action.LOGIN_THROTTLED,
            actor=known,
            outcome=Outcome.DENIED,
            request=request,
            detail={"username": username[:150]},
        )
        raise LoginThrottled
    user = authenticate(request, username=username, password=password)
    if user is None:
        _count_failure(username, address)
        audit.record(
            action=Action.LOGIN_FAILED,
            actor=known,
            outcome=Outcome.DENIED,
            request=request,
            detail={"username": username[:150]},
        )
        raise LoginFailed
    if not isinstance(user, User):  # another backend answered; vioip has only its own
        raise LoginFailed
    with transaction.atomic():
        issued = token_issue(user=user)
        audit.record(action=Action.LOGIN, actor=user, request=request)
    return LoginResult(user=user, issued=issued)


@transaction.atomic
def logout(*, token: AuthToken, request: HttpRequest) -> None:
    token_revoke(token=token)
    access_changed(user_ids=[token.user_id], reason="logout")
    audit.record(action=Action.LOGOUT, actor=token.user, request=request)


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


@transaction.atomic
def user_create(*, actor: User, request: HttpRequest | None, password: str, **fields: Any) -> User:
    user = User(**fields)
    _check_password(password, user)
    user.set_password(password)
    user.save()
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        request=request,
        detail={"role": user.role},
    )
    return user


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
    request: HttpRequest | None,
    password: str | None = None,
    **fields: Any,
) -> User:
    """Change a user. Nobody changes their own role; deactivating ends every token."""
    if "role" in fields and fields["role"] != user.role and actor.pk == user.pk:
        raise ValidationError({"role": ["You cannot change your own role."]})
    if fields.get("is_active") is False and actor.pk == user.pk:
        raise ValidationError({"is_active": ["You cannot deactivate yourself."]})
    old_role = user.role
    changed = []
    for name, value in fields.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            changed.append(name)
    if password:
        _check_password(password, user)
        user.set_password(password)
        changed.append("password")
    if not changed:
        return user
    user.save(update_fields=changed)
    if ("is_active" in changed and not user.is_active) or "password" in changed:
        tokens_revoke_for_user(user=user)
    if "role" in changed:
        hooks.role_changed(actor=actor, user=user, old_role=old_role)
    if {"is_active", "password", "role"} & set(changed):
        access_changed(user_ids=[user.pk], reason="account_change")
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        request=request,
        detail={"fields": sorted(changed), **({"role": user.role} if "role" in changed else {})},
    )
    return user


def is_role(user: User, role: Role) -> bool:
    return user.role == role
