"""Second factors: TOTP (RFC 6238) with recovery codes, and passkeys (WebAuthn level 2).

A user with a factor signs in in two steps: the right password gives a login challenge
(random, stored as a digest, 5 minutes, dead after 5 wrong answers), and a TOTP code, a
recovery code or a passkey assertion against it gives the token. Every wrong second factor
also counts toward the login throttling of the account (``vioip.accounts.throttle``), and a
right password alone never clears those counters: only a completed second step does, so
logging in again does not buy more guesses.

Audit (never the secret, a code or a credential): enrolment ``create`` of ``mfa_totp`` /
``mfa_passkey`` / ``mfa_recovery_codes``; use ``login`` with ``{"mfa": method}``; failure
``login_failed`` (denied) with ``{"mfa": method, "stage": ...}``; removal ``delete``; an
admin's reset ``update`` of the user with ``{"change": "mfa_reset"}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pyotp
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from vioip.accounts import throttle
from vioip.accounts.models import (
    AuthToken,
    MfaChallenge,
    RecoveryCode,
    TotpDevice,
    User,
    WebAuthnCredential,
)
from vioip.accounts.tokens import IssuedToken, token_issue, tokens_revoke_for_user
from vioip.audit import noise
from vioip.audit import services as audit
from vioip.audit.models import Action, Outcome
from vioip.core.revocation import access_changed

CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5
# A second factor proved this recently on a token counts as fresh (removing a factor).
FRESH_FOR = timedelta(minutes=5)
RECOVERY_CODE_COUNT = 10
TOTP_ISSUER = "vioip"
TOTP_STEP = 30
_REGISTRATION_KEY = "mfa:webauthn:register:{user_id}"


class MfaError(Exception):
    """A refused second-factor step; ``field`` and ``message`` make the 400's field error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ChallengeInvalid(MfaError):
    def __init__(self) -> None:
        super().__init__("challenge", "Unknown, used or expired challenge. Log in again.")


class Throttled(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__("second factor throttled")
        self.retry_after = retry_after


class PasskeysUnavailable(Exception):
    """No relying-party id can be derived (see ``rp_id``)."""


@dataclass(frozen=True)
class Verified:
    user: User
    issued: IssuedToken


# --- Who needs what -------------------------------------------------------------------------


def required_for(user: User) -> bool:
    return user.role in settings.MFA_REQUIRED_ROLES


def methods_of(user: User) -> list[str]:
    """The second factors ``user`` can sign in with, in a fixed order."""
    found = []
    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        found.append("totp")
    if WebAuthnCredential.objects.filter(user=user).exists():
        found.append("webauthn")
    if found and RecoveryCode.objects.filter(user=user, used_at__isnull=True).exists():
        found.append("recovery_code")
    return found


def has_factor(user: User) -> bool:
    return bool(methods_of(user))


def _secure(token: AuthToken | None) -> None:
    """The token's holder has just proved a second factor: full access from now on."""
    if token is None:
        return
    token.mfa_enrollment_only = False
    token.mfa_verified_at = timezone.now()
    token.save(update_fields=["mfa_enrollment_only", "mfa_verified_at"])


# --- Recovery codes -------------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def recovery_digest(code: str) -> str:
    # A keyed hash, not a password hash: each code holds 60 random bits, so no dictionary
    # or brute force gets anywhere near it, and a slow hash would only slow every login.
    # The key (SECRET_KEY) keeps a copy of the table alone from being checked offline.
    return salted_hmac("vioip.accounts.mfa.recovery", _normalise_code(code)).hexdigest()


def _new_recovery_code() -> str:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
    # 12 characters of 31: more than 59 bits.
    raw = "".join(secrets.choice(alphabet) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _recovery_codes_replace(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    now = timezone.now()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, digest=recovery_digest(code), created_at=now) for code in codes
    )
    audit.record(
        action=Action.CREATE,
        actor=user,
        object_type="mfa_recovery_codes",
        object_id=user.pk,
        detail={"count": len(codes)},
    )
    return codes


def _recovery_code_spend(user: User, code: str) -> bool:
    # One conditional UPDATE: of two requests presenting the same code only one gets it.
    return bool(
        RecoveryCode.objects.filter(
            user=user, digest=recovery_digest(code), used_at__isnull=True
        ).update(used_at=timezone.now())
    )


# --- TOTP -----------------------------------------------------------------------------------


def _totp_step_matching(device: TotpDevice, code: str, now: datetime) -> int | None:
    """The time step (±1 for clock drift) whose code is ``code`` and that is later than the
    last accepted one; None if there is none."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(device.secret)
    current = int(now.timestamp()) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        if device.last_used_step is not None and step <= device.last_used_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def _totp_spend(device: TotpDevice, code: str) -> bool:
    step = _totp_step_matching(device, code, timezone.now())
    if step is None:
        return False
    # Conditional: a code raced by two requests is accepted once.
    return bool(
        TotpDevice.objects.filter(pk=device.pk)
        .filter(Q(last_used_step__isnull=True) | Q(last_used_step__lt=step))
        .update(last_used_step=step)
    )


def _fresh_to_add(user: User, token: AuthToken | None) -> None:
    # A stolen session must not plant a factor of its own: adding one to an account that
    # has a factor needs that factor proved on this token in the last minutes.
    if has_factor(user) and not _fresh(token):
        raise MfaError(
            "non_field_errors",
            "Sign in again with your second factor to add another (within 5 minutes).",
        )


def totp_begin(*, user: User, token: AuthToken | None) -> tuple[str, str]:
    """A new, not yet active TOTP secret for ``user`` and its ``otpauth://`` URI. An
    unconfirmed one is replaced; a confirmed one must be removed first. A user who has
    another factor needs a fresh second factor on ``token``."""
    if TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        raise MfaError("non_field_errors", "An authenticator app is already set up.")
    _fresh_to_add(user, token)
    TotpDevice.objects.filter(user=user).delete()
    secret = pyotp.random_base32()
    TotpDevice.objects.create(user=user, secret=secret, created_at=timezone.now())
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)
    return secret, uri


def totp_confirm(*, user: User, token: AuthToken | None, code: str) -> list[str]:
    """Activate the pending TOTP secret with its first code; returns 10 new recovery codes
    (shown once; any earlier ones stop working)."""
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=True).first()
    if device is None:
        raise MfaError("non_field_errors", "Start with POST /api/auth/mfa/totp/.")
    if not _totp_spend(device, code):
        audit.record(
            action=Action.LOGIN_FAILED,
            outcome=Outcome.DENIED,
            actor=user,
            object_type="mfa_totp",
            object_id=device.pk,
            detail={"mfa": "totp", "stage": "enrolment"},
        )
        raise MfaError("code", "Wrong code.")
    with transaction.atomic():
        device.confirmed_at = timezone.now()
        device.save(update_fields=["confirmed_at"])
        audit.record(
            action=Action.CREATE,
            actor=user,
            object_type="mfa_totp",
            object_id=device.pk,
            detail={"mfa": "totp"},
        )
        codes = _recovery_codes_replace(user)
        _secure(token)
    return codes


# --- Login challenges -----------------------------------------------------------------------


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def challenge_issue(*, user: User) -> str:
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    MfaChallenge.objects.create(
        digest=_digest(raw), user=user, created_at=now, expires_at=now + CHALLENGE_LIFETIME
    )
    return raw


def _challenge_live(raw: str) -> MfaChallenge:
    if not raw or len(raw) > 256:
        raise ChallengeInvalid
    challenge = (
        MfaChallenge.objects.select_related("user")
        .filter(
            digest=_digest(raw),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
            failures__lt=CHALLENGE_MAX_FAILURES,
        )
        .first()
    )
    if challenge is None or not challenge.user.is_active:
        raise ChallengeInvalid
    return challenge


def _check_throttle(user: User, address: str) -> None:
    refusal = throttle.check(username=user.username, address=address)
    if refusal is not None:
        # Coalesced per address and minute, as throttled password attempts are.
        noise.unauthenticated_failure(
            action=Action.LOGIN_THROTTLED,
            client_address=address,
            object_type="user",
            object_id=user.pk,
            actor=user,
            detail={"limit": refusal.scope, "retry_after": refusal.retry_after, "mfa": True},
        )
        raise Throttled(refusal.retry_after)


def _second_factor_failed(
    challenge: MfaChallenge | None, user: User, address: str, method: str, stage: str
) -> None:
    if challenge is not None:
        MfaChallenge.objects.filter(pk=challenge.pk).update(failures=F("failures") + 1)
    throttle.count_failure(username=user.username, address=address)
    audit.record(
        action=Action.LOGIN_FAILED,
        outcome=Outcome.DENIED,
        actor=user,
        object_type="user",
        object_id=user.pk,
        client_address=address,
        detail={"mfa": method, "stage": stage},
    )


def _complete_login(challenge: MfaChallenge, address: str, method: str) -> Verified:
    user = challenge.user
    with transaction.atomic():
        spent = MfaChallenge.objects.filter(pk=challenge.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not spent:
            raise ChallengeInvalid
        issued = token_issue(user=user, mfa_verified=True)
        audit.record(
            action=Action.LOGIN, actor=user, client_address=address, detail={"mfa": method}
        )
    throttle.clear_after_success(username=user.username, address=address)
    return Verified(user=user, issued=issued)


def _code_spend(user: User, code: str) -> str | None:
    """Spend ``code`` as a TOTP code or a recovery code; the method, or None if neither."""
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is not None and _totp_spend(device, code):
        return "totp"
    if _recovery_code_spend(user, code):
        return "recovery_code"
    return None


def verify_code(*, challenge: str, code: str, address: str) -> Verified:
    """Second step of a login with a TOTP code or a recovery code."""
    live = _challenge_live(challenge)
    _check_throttle(live.user, address)
    method = _code_spend(live.user, code)
    if method is None:
        _second_factor_failed(live, live.user, address, "code", "login")
        raise MfaError("code", "Wrong code.")
    return _complete_login(live, address, method)


# --- Removal and reset ----------------------------------------------------------------------


def factors_of(user: User) -> list[dict[str, Any]]:
    factors: list[dict[str, Any]] = []
    device = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).first()
    if device is not None:
        factors.append(
            {
                "id": f"totp-{device.pk}",
                "kind": "totp",
                "name": "Authenticator app",
                "created_at": device.confirmed_at,
            }
        )
    for credential in WebAuthnCredential.objects.filter(user=user).order_by("pk"):
        factors.append(
            {
                "id": f"passkey-{credential.pk}",
                "kind": "webauthn",
                "name": credential.name or "Passkey",
                "created_at": credential.created_at,
            }
        )
    return factors


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def _fresh(token: AuthToken | None) -> bool:
    return bool(
        token is not None
        and token.mfa_verified_at is not None
        and timezone.now() - token.mfa_verified_at <= FRESH_FOR
    )


def factor_remove(
    *, user: User, token: AuthToken | None, factor_id: str, code: str | None, address: str
) -> None:
    """Remove one of ``user``'s factors. Needs a fresh second factor: one proved on this
    token in the last 5 minutes, or ``code`` (a TOTP or recovery code) now; a wrong code
    counts toward login throttling. Removing the last factor also drops the recovery
    codes. Raises ``LookupError`` for a factor that is not the user's."""
    kind, _, pk = factor_id.partition("-")
    if kind not in ("totp", "passkey") or not pk.isdigit() or len(pk) > 18:
        raise LookupError(factor_id)
    factor: TotpDevice | WebAuthnCredential | None
    if kind == "totp":
        factor = TotpDevice.objects.filter(
            user=user, pk=int(pk), confirmed_at__isnull=False
        ).first()
    else:
        factor = WebAuthnCredential.objects.filter(user=user, pk=int(pk)).first()
    if factor is None:
        raise LookupError(factor_id)
    if not _fresh(token):
        if not code:
            raise MfaError("code", "Confirm with a current code from your authenticator app.")
        _check_throttle(user, address)
        if _code_spend(user, code) is None:
            _second_factor_failed(None, user, address, "code", "removal")
            raise MfaError("code", "Wrong code.")
    with transaction.atomic():
        factor.delete()
        if not methods_of(user):
            RecoveryCode.objects.filter(user=user).delete()
        audit.record(
            action=Action.DELETE,
            actor=user,
            object_type="mfa_totp" if kind == "totp" else "mfa_passkey",
            object_id=pk,
            detail={"mfa": "totp" if kind == "totp" else "webauthn"},
        )


@transaction.atomic
def factors_reset(*, actor: User, user: User) -> int:
    """An admin removes every second factor of ``user`` (lost phone and codes) and ends
    their sessions; at their next login they enrol again. Nobody resets their own."""
    if actor.pk == user.pk:
        raise MfaError("non_field_errors", "Another administrator must reset your factors.")
    removed = TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).count()
    removed += WebAuthnCredential.objects.filter(user=user).count()
    TotpDevice.objects.filter(user=user).delete()
    WebAuthnCredential.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    MfaChallenge.objects.filter(user=user).delete()
    tokens_revoke_for_user(user=user)
    access_changed(user_ids=[user.pk], reason="account_change")
    audit.record(
        action=Action.UPDATE,
        actor=actor,
        object_type="user",
        object_id=user.pk,
        detail={"change": "mfa_reset", "factors": removed},
    )
    return removed


# --- Passkeys (WebAuthn) --------------------------------------------------------------------


def _is_ip(host: str) -> bool:
    try:
        validate_ipv46_address(host.strip("[]"))
    except ValidationError:
        return False
    return True


def rp_id() -> str:
    """``VIOIP_WEBAUTHN_RP_ID``, else the first ``ALLOWED_HOSTS`` entry that is a domain
    (not a wildcard, not an IP address: WebAuthn scopes credentials to a domain)."""
    if settings.WEBAUTHN_RP_ID:
        return str(settings.WEBAUTHN_RP_ID)
    for host in settings.ALLOWED_HOSTS:
        if host and not host.startswith(("*", ".")) and not _is_ip(host):
            return str(host)
    raise PasskeysUnavailable


def expected_origins(request_origin: str) -> list[str]:
    """Origins a ceremony may come from: ``VIOIP_WEBAUTHN_ORIGINS``, else the origin the
    request was made to when its host is the RP id or a subdomain of it."""
    if settings.WEBAUTHN_ORIGINS:
        return list(settings.WEBAUTHN_ORIGINS)
    host = urlsplit(request_origin).hostname or ""
    rp = rp_id()
    if host == rp or host.endswith(f".{rp}"):
        return [request_origin]
    return []


def _user_handle(user: User) -> bytes:
    # Stable per user (one passkey entry per account on a device), and no personal data.
    return salted_hmac("vioip.accounts.mfa.webauthn-user", str(user.pk)).digest()[:32]


def webauthn_register_begin(*, user: User, token: AuthToken | None) -> dict[str, Any]:
    """Options for ``navigator.credentials.create()``; the challenge waits 5 minutes. A
    user who has a factor needs a fresh second factor on ``token``."""
    _fresh_to_add(user, token)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name="vioip",
        user_name=user.username,
        user_id=_user_handle(user),
        user_display_name=user.display_name,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
            for c in WebAuthnCredential.objects.filter(user=user)
        ],
    )
    cache.set(
        _REGISTRATION_KEY.format(user_id=user.pk),
        bytes_to_base64url(options.challenge),
        timeout=int(CHALLENGE_LIFETIME.total_seconds()),
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def webauthn_register_finish(
    *, user: User, token: AuthToken | None, credential: dict[str, Any], origin: str, name: str
) -> tuple[WebAuthnCredential, list[str]]:
    """Keep the new passkey. Returns it and, when the user had no recovery codes, 10 new
    ones (shown once)."""
    key = _REGISTRATION_KEY.format(user_id=user.pk)
    expected = cache.get(key)
    cache.delete(key)  # one attempt per begin
    if expected is None:
        raise MfaError("non_field_errors", "Start with register/begin (it lasts 5 minutes).")
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=base64url_to_bytes(expected),
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(origin),
        )
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError) as exc:
        audit.record(
            action=Action.LOGIN_FAILED,
            outcome=Outcome.DENIED,
            actor=user,
            object_type="mfa_passkey",
            detail={"mfa": "webauthn", "stage": "enrolment", "reason": type(exc).__name__},
        )
        raise MfaError("credential", "The passkey could not be verified.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if WebAuthnCredential.objects.filter(credential_id=credential_id).exists():
        raise MfaError("credential", "This passkey is already registered.")
    with transaction.atomic():
        saved = WebAuthnCredential.objects.create(
            user=user,
            credential_id=credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=name,
            created_at=timezone.now(),
        )
        audit.record(
            action=Action.CREATE,
            actor=user,
            object_type="mfa_passkey",
            object_id=saved.pk,
            detail={"mfa": "webauthn"},
        )
        has_codes = RecoveryCode.objects.filter(user=user, used_at__isnull=True).exists()
        codes = [] if has_codes else _recovery_codes_replace(user)
        _secure(token)
    return saved, codes


def webauthn_verify_begin(*, challenge: str) -> dict[str, Any]:
    """Options for ``navigator.credentials.get()`` for the login ``challenge``."""
    live = _challenge_live(challenge)
    credentials = list(WebAuthnCredential.objects.filter(user=live.user))
    if not credentials:
        raise MfaError("challenge", "This account has no passkey.")
    options = generate_authentication_options(
        rp_id=rp_id(),
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id))
            for c in credentials
        ],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    MfaChallenge.objects.filter(pk=live.pk).update(webauthn_challenge=options.challenge)
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


def webauthn_verify_finish(
    *, challenge: str, credential: dict[str, Any], origin: str, address: str
) -> Verified:
    """Second step of a login with a passkey assertion."""
    live = _challenge_live(challenge)
    user = live.user
    _check_throttle(user, address)
    expected = bytes(live.webauthn_challenge) if live.webauthn_challenge else None
    # The assertion's challenge is spent whatever the outcome: a retry asks verify/begin.
    MfaChallenge.objects.filter(pk=live.pk).update(webauthn_challenge=None)
    raw_id = credential.get("id") if isinstance(credential, dict) else None
    stored = (
        WebAuthnCredential.objects.filter(user=user, credential_id=raw_id).first()
        if isinstance(raw_id, str)
        else None
    )
    try:
        if expected is None or stored is None:
            raise WebAuthnException("no matching challenge or credential")
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=expected,
            expected_rp_id=rp_id(),
            expected_origin=expected_origins(origin),
            credential_public_key=bytes(stored.public_key),
            credential_current_sign_count=stored.sign_count,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError, AttributeError) as exc:
        _second_factor_failed(live, user, address, "webauthn", "login")
        raise MfaError("credential", "The passkey could not be verified.") from exc
    WebAuthnCredential.objects.filter(pk=stored.pk).update(
        sign_count=verified.new_sign_count, last_used_at=timezone.now()
    )
    return _complete_login(live, address, "webauthn")
