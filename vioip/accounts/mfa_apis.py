"""Second-factor endpoints: enrolment (TOTP, passkeys), the second step of a login, the
list and removal of one's factors, and an admin's reset. Rules live in ``mfa``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vioip.accounts import mfa
from vioip.accounts.apis import LoginOutput, token_body
from vioip.accounts.mfa_gate import enrollment_only_allowed
from vioip.accounts.models import AuthToken, User
from vioip.core.errors import Conflict
from vioip.core.middleware import current_client_address

ErrorOutput = inline_serializer(
    "MfaError", {"code": serializers.CharField(), "detail": serializers.CharField()}
)


def _throttled(retry_after: int) -> Response:
    return Response(
        {
            "code": "throttled",
            "detail": f"Too many failed logins. Try again in {retry_after} seconds.",
        },
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(retry_after)},
    )


def _refused(error: mfa.MfaError) -> ValidationError:
    return ValidationError({error.field: [error.message]})


def _origin(request: Request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _token(request: Request) -> AuthToken | None:
    return request.auth if isinstance(request.auth, AuthToken) else None


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # noqa: S101 - authenticated by default
    return request.user


def _credential_field() -> serializers.DictField:
    return serializers.DictField(
        help_text="The PublicKeyCredential as JSON (its toJSON(): id, rawId, response, type)."
    )


# --- TOTP enrolment -------------------------------------------------------------------------


class TotpBeginOutput(serializers.Serializer):
    secret = serializers.CharField()
    otpauth_uri = serializers.CharField()


class CodeInput(serializers.Serializer):
    code = serializers.CharField(max_length=32)


class RecoveryCodesOutput(serializers.Serializer):
    recovery_codes = serializers.ListField(child=serializers.CharField())


@enrollment_only_allowed
class TotpBeginApi(APIView):
    @extend_schema(request=None, responses={201: TotpBeginOutput, 400: ErrorOutput})
    def post(self, request: Request) -> Response:
        try:
            secret, uri = mfa.totp_begin(user=_user(request), token=_token(request))
        except mfa.MfaError as error:
            raise _refused(error) from error
        return Response({"secret": secret, "otpauth_uri": uri}, status=status.HTTP_201_CREATED)


@enrollment_only_allowed
class TotpConfirmApi(APIView):
    @extend_schema(request=CodeInput, responses={200: RecoveryCodesOutput, 400: ErrorOutput})
    def post(self, request: Request) -> Response:
        data = CodeInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            codes = mfa.totp_confirm(
                user=_user(request), token=_token(request), code=data.validated_data["code"]
            )
        except mfa.MfaError as error:
            raise _refused(error) from error
        return Response({"recovery_codes": codes})


# --- Passkey enrolment ----------------------------------------------------------------------


def _passkeys_unavailable() -> Conflict:
    return Conflict("Passkeys need VIOIP_WEBAUTHN_RP_ID or a domain in VIOIP_ALLOWED_HOSTS.")


@enrollment_only_allowed
class WebAuthnRegisterBeginApi(APIView):
    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(description="PublicKeyCredentialCreationOptions"),
            400: ErrorOutput,
        },
    )
    def post(self, request: Request) -> Response:
        try:
            return Response(mfa.webauthn_register_begin(user=_user(request), token=_token(request)))
        except mfa.MfaError as error:
            raise _refused(error) from error
        except mfa.PasskeysUnavailable as exc:
            raise _passkeys_unavailable() from exc


class RegisterFinishInput(serializers.Serializer):
    credential = _credential_field()
    name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)


class RegisterFinishOutput(serializers.Serializer):
    id = serializers.CharField()
    recovery_codes = serializers.ListField(child=serializers.CharField())


@enrollment_only_allowed
class WebAuthnRegisterFinishApi(APIView):
    @extend_schema(
        request=RegisterFinishInput, responses={201: RegisterFinishOutput, 400: ErrorOutput}
    )
    def post(self, request: Request) -> Response:
        data = RegisterFinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            saved, codes = mfa.webauthn_register_finish(
                user=_user(request),
                token=_token(request),
                credential=data.validated_data["credential"],
                origin=_origin(request),
                name=data.validated_data["name"],
            )
        except mfa.MfaError as error:
            raise _refused(error) from error
        except mfa.PasskeysUnavailable as exc:
            raise _passkeys_unavailable() from exc
        return Response(
            {"id": f"passkey-{saved.pk}", "recovery_codes": codes}, status=status.HTTP_201_CREATED
        )


# --- The second step of a login -------------------------------------------------------------


class VerifyInput(serializers.Serializer):
    challenge = serializers.CharField(max_length=256)
    code = serializers.CharField(max_length=32)


class MfaVerifyApi(APIView):
    """A TOTP code or a recovery code for the challenge of ``POST /api/auth/login/``."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=VerifyInput,
        responses={200: LoginOutput, 400: ErrorOutput, 429: ErrorOutput},
    )
    def post(self, request: Request) -> Response:
        data = VerifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            verified = mfa.verify_code(
                challenge=data.validated_data["challenge"],
                code=data.validated_data["code"],
                address=current_client_address.get(),
            )
        except mfa.Throttled as throttled:
            return _throttled(throttled.retry_after)
        except mfa.MfaError as error:
            raise _refused(error) from error
        return Response(token_body(verified.user, verified.issued))


class ChallengeInput(serializers.Serializer):
    challenge = serializers.CharField(max_length=256)


class WebAuthnVerifyBeginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=ChallengeInput,
        responses={
            200: OpenApiResponse(description="PublicKeyCredentialRequestOptions"),
            400: ErrorOutput,
        },
    )
    def post(self, request: Request) -> Response:
        data = ChallengeInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            return Response(mfa.webauthn_verify_begin(challenge=data.validated_data["challenge"]))
        except mfa.MfaError as error:
            raise _refused(error) from error
        except mfa.PasskeysUnavailable as exc:
            raise _passkeys_unavailable() from exc


class VerifyFinishInput(serializers.Serializer):
    challenge = serializers.CharField(max_length=256)
    credential = _credential_field()


class WebAuthnVerifyFinishApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=VerifyFinishInput,
        responses={200: LoginOutput, 400: ErrorOutput, 429: ErrorOutput},
    )
    def post(self, request: Request) -> Response:
        data = VerifyFinishInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            verified = mfa.webauthn_verify_finish(
                challenge=data.validated_data["challenge"],
                credential=data.validated_data["credential"],
                origin=_origin(request),
                address=current_client_address.get(),
            )
        except mfa.Throttled as throttled:
            return _throttled(throttled.retry_after)
        except mfa.MfaError as error:
            raise _refused(error) from error
        except mfa.PasskeysUnavailable as exc:
            raise _passkeys_unavailable() from exc
        return Response(token_body(verified.user, verified.issued))


# --- One's factors --------------------------------------------------------------------------


class FactorOutput(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["totp", "webauthn"])
    name = serializers.CharField()
    created_at = serializers.DateTimeField()


class FactorListOutput(serializers.Serializer):
    factors = FactorOutput(many=True)
    recovery_codes_remaining = serializers.IntegerField()


class FactorListApi(APIView):
    @extend_schema(responses={200: FactorListOutput})
    def get(self, request: Request) -> Response:
        user = _user(request)
        return Response(
            FactorListOutput(
                {
                    "factors": mfa.factors_of(user),
                    "recovery_codes_remaining": mfa.recovery_codes_left(user),
                }
            ).data
        )


class RemoveInput(serializers.Serializer):
    code = serializers.CharField(max_length=32, required=False)


class FactorDetailApi(APIView):
    """Remove a factor. Needs a fresh second factor: a login completed with one in the
    last 5 minutes on this token, or ``code`` (a current TOTP code or a recovery code)."""

    @extend_schema(
        request=RemoveInput,
        responses={204: None, 400: ErrorOutput, 404: ErrorOutput, 429: ErrorOutput},
    )
    def delete(self, request: Request, factor_id: str) -> Response:
        data = RemoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            mfa.factor_remove(
                user=_user(request),
                token=_token(request),
                factor_id=factor_id,
                code=data.validated_data.get("code"),
                address=current_client_address.get(),
            )
        except LookupError as exc:
            raise NotFound from exc
        except mfa.Throttled as throttled:
            return _throttled(throttled.retry_after)
        except mfa.MfaError as error:
            raise _refused(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)
