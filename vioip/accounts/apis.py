from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from vioip.accounts import mfa, services
from vioip.accounts.mfa_gate import enrollment_only_allowed
from vioip.accounts.models import AuthToken, User
from vioip.accounts.tokens import IssuedToken, token_expires_at
from vioip.core.permissions import IsAdmin


class UserSerializer(serializers.ModelSerializer):
    password = serializers.CharField(
        write_only=True, required=False, style={"input_type": "password"}
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "password",
            "role",
            "first_name",
            "last_name",
            "email",
            "is_active",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is None and not attrs.get("password"):
            raise serializers.ValidationError({"password": ["This field is required."]})
        return attrs


class MeSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ["id", "username", "role", "first_name", "last_name", "email", "display_name"]


ErrorOutput = inline_serializer(
    "AuthError", {"code": serializers.CharField(), "detail": serializers.CharField()}
)


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"})


LoginOutput = inline_serializer(
    "LoginOutput",
    {
        "token": serializers.CharField(),
        "expires_at": serializers.DateTimeField(),
        "absolute_expires_at": serializers.DateTimeField(),
        # True: the token can only enrol a second factor, read auth/me and log out.
        "mfa_enrollment_required": serializers.BooleanField(),
        "user": MeSerializer(),
    },
)

LoginChallengeOutput = inline_serializer(
    "LoginChallengeOutput",
    {
        "mfa_required": serializers.BooleanField(),
        "challenge": serializers.CharField(),
        "methods": serializers.ListField(
            child=serializers.ChoiceField(choices=["totp", "webauthn", "recovery_code"])
        ),
    },
)


def token_body(user: User, issued: IssuedToken) -> dict[str, Any]:
    """The body of a successful login, whether or not a second factor was asked."""
    return {
        "token": issued.raw,
        "expires_at": token_expires_at(issued.token),
        "absolute_expires_at": issued.token.expires_at,
        "mfa_enrollment_required": issued.token.mfa_enrollment_only,
        "user": MeSerializer(user).data,
    }


class LoginApi(APIView):
    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=LoginInputSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="LoginResult",
                serializers=[LoginOutput, LoginChallengeOutput],
                resource_type_field_name=None,
            ),
            400: ErrorOutput,
            401: ErrorOutput,
            429: OpenApiResponse(
                ErrorOutput,
                description="Too many failed logins: try again after `Retry-After` seconds.",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            result = services.login(
                username=data.validated_data["username"],
                password=data.validated_data["password"],
            )
        except services.LoginThrottled as throttled:
            return Response(
                {
                    "code": "throttled",
                    "detail": (
                        f"Too many failed logins. Try again in {throttled.retry_after} seconds."
                    ),
                },
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(throttled.retry_after)},
            )
        except services.LoginFailed:
            return Response(
                {"code": "invalid_credentials", "detail": "Wrong username or password."},
                status=status.HTTP_401_UNAUTHORIZED,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if result.issued is None:
            # The password was right; the token comes from POST /api/auth/mfa/verify/ (or
            # the passkey's verify/finish) with this challenge.
            return Response(
                {"mfa_required": True, "challenge": result.challenge, "methods": result.methods}
            )
        return Response(token_body(result.user, result.issued))


@enrollment_only_allowed
class LogoutApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        if not isinstance(request.auth, AuthToken):
            return Response(status=status.HTTP_401_UNAUTHORIZED)
        services.logout(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


@enrollment_only_allowed
class LogoutEverywhereApi(APIView):
    """End every session of the caller: all their tokens (this one too) and their open
    room sockets, on every process."""

    @extend_schema(request=None, responses={204: None, 401: ErrorOutput})
    def post(self, request: Request) -> Response:
        assert isinstance(request.user, User)  # noqa: S101 - authenticated by default
        services.logout_everywhere(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@enrollment_only_allowed
class MeApi(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)


class UserViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Program users. Admins only; users are deactivated, never deleted."""

    permission_classes = [IsAdmin]
    serializer_class = UserSerializer
    queryset = User.objects.order_by("id")
    filterset_fields = ["role", "is_active"]

    def perform_create(self, serializer: UserSerializer) -> None:  # type: ignore[override]
        data = dict(serializer.validated_data)
        password = data.pop("password")
        assert isinstance(self.request.user, User)  # noqa: S101 - IsAdmin ran first
        serializer.instance = services.user_create(
            actor=self.request.user, password=password, **data
        )

    def perform_update(self, serializer: UserSerializer) -> None:  # type: ignore[override]
        data = dict(serializer.validated_data)
        password = data.pop("password", None)
        assert isinstance(self.request.user, User)  # noqa: S101 - IsAdmin ran first
        assert isinstance(serializer.instance, User)  # noqa: S101
        serializer.instance = services.user_update(
            actor=self.request.user,
            user=serializer.instance,
            password=password,
            **data,
        )

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer("MfaReset", {"factors_removed": serializers.IntegerField()})
        },
        summary="Remove every second factor of a user and end their sessions (admins).",
    )
    @action(detail=True, methods=["post"], url_path="mfa/reset", url_name="mfa-reset")
    def mfa_reset(self, request: Request, pk: str | None = None) -> Response:
        user = self.get_object()
        assert isinstance(request.user, User)  # noqa: S101 - IsAdmin ran first
        try:
            removed = mfa.factors_reset(actor=request.user, user=user)
        except mfa.MfaError as error:
            raise serializers.ValidationError({error.field: [error.message]}) from error
        return Response({"factors_removed": removed})
