"""Writes for users and sessions of use (login, logout, account changes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from vioip.accounts import hooks, mfa, throttle
from vioip.accounts.models import AuthToken, Role, User
from vioip.accounts.tokens import IssuedToken, token_issue, token_revoke, tokens_revoke_for_user
from vioip.audit import noise
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.middleware import current_client_address
from vioip.core.revocation import access_changed


class LoginThrottled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("login throttled")
        self.retry_after = retry_after


class LoginFailed(Exception):
    pass


@dataclass(frozen=True)
class LoginResult:
    """Either a token, or (the user has a second factor) a challenge and its methods."""

    user: User
    issued: IssuedToken | None = None
    challenge: str | None = None
    methods: tuple[str, ...] = ()


def login(*, username: str, password: str, client_address: str | None = None) -> LoginResult:
    """Check credentials and issue a token, or a second-factor challenge when the user
    has a factor (``vioip.accounts.mfa``). A user of ``MFA_REQUIRED_ROLES`` without one gets
    an enrolment-only token.

    ``client_address`` defaults to the audit context's. A throttled attempt
    (``vioip.accounts.throttle``) raises ``LoginThrottled`` without the password being
    checked. Every outcome is audited: success and the failures of a known account per
    attempt, naming that account (never the typed text); the failures under names that
    match no account, and throttled attempts, coalesced per address and minute with the
    name as a keyed digest (``vioip.audit.noise``).
    """
    address = current_client_address.get() if client_address is None else client_address
    known = User.objects.filter(username=username).first()
    refusal = throttle.check(username=username, address=address)
    if refusal is not None:
        noise.unauthenticated_failure(
            action=Action.LOGIN_THROTTLED,
            client_address=address,
            object_type="user",
            object_id=known.pk if known else "",
            actor=known,
            detail={
                "limit": refusal.scope,
                "retry_after": refusal.retry_after,
                **({} if known else {"username_digest": noise.typed_text_digest(username)}),
            },
        )
        raise LoginThrottled(refusal.retry_after)
    user = authenticate(None, username=username, password=password)
    if user is None or not isinstance(user, User):
        throttle.count_failure(username=username, address=address)
        if known is not None:
            audit.record(
                action=Action.LOGIN_FAILED,
                actor=known,
                outcome=Outcome.DENIED,
                object_type="user",
                object_id=known.pk,
                client_address=address,
            )
        else:
            noise.unauthenticated_failure(
                action=Action.LOGIN_FAILED,
                client_address=address,
                object_type="user",
                detail={"username_digest": noise.typed_text_digest(username)},
            )
        raise LoginFailed
    methods = mfa.methods_of(user)
    if methods:
        # The counters stay until the second step succeeds (vioip.accounts.mfa).
        return LoginResult(
            user=user, challenge=mfa.challenge_issue(user=user), methods=tuple(methods)
        )
    enrollment_only = mfa.required_for(user)
    throttle.clear_after_success(username=username, address=address)
    with transaction.atomic():
        issued = token_issue(user=user, mfa_enrollment_only=enrollment_only)
        audit.record(
            action=Action.LOGIN,
            actor=user,
            client_address=address,
            detail={"mfa_enrollment_required": True} if enrollment_only else {},
        )
    return LoginResult(user=user, issued=issued)


@transaction.atomic
def logout(*, token: AuthToken) -> None:
    token_revoke(token=token)
    access_changed(user_ids=[token.user_id], reason="logout")
    audit.record(action=Action.LOGOUT, actor=token.user)


@transaction.atomic
def logout_everywhere(*, user: User) -> int:
    """End every session of ``user``: all their tokens, and (through ``access_changed``)
    their open room sockets on every process. Returns how many tokens were revoked."""
    revoked = tokens_revoke_for_user(user=user)
    access_changed(user_ids=[user.pk], reason="logout_everywhere")
    audit.record(action=Action.LOGOUT, actor=user, detail={"everywhere": True, "tokens": revoked})
    return revoked


def user_unlock(*, username: str) -> User:
    """Clear the login throttling counters of ``username`` (every address), audited with
    no actor (it is run from the command line). Raises ``User.DoesNotExist``."""
    user = User.objects.get(username=username)
    throttle.unlock(username=username)
    audit.record(
        action=Action.UPDATE,
        actor=None,
        object_type="user",
        object_id=user.pk,
        detail={"change": "unlock"},
    )
    return user


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


@transaction.atomic
def user_create(*, actor: User, password: str, **fields: Any) -> User:
    user = User(**fields)
    _check_password(password, user)
    user.set_password(password)
    user.save()
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        detail={"role": user.role},
    )
    return user


@transaction.atomic
def user_update(
    *,
    actor: User,
    user: User,
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
        detail={"fields": sorted(changed), **({"role": user.role} if "role" in changed else {})},
    )
    return user


def is_role(user: User, role: Role) -> bool:
    return user.role == role
