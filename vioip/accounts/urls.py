from django.urls import include, path
from rest_framework.routers import SimpleRouter

from vioip.accounts import apis, mfa_apis

router = SimpleRouter()
router.register("users", apis.UserViewSet, basename="user")

urlpatterns = [
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path(
        "auth/logout-everywhere/",
        apis.LogoutEverywhereApi.as_view(),
        name="auth-logout-everywhere",
    ),
    path("auth/me/", apis.MeApi.as_view(), name="auth-me"),
    path("auth/mfa/", mfa_apis.FactorListApi.as_view(), name="auth-mfa"),
    path("auth/mfa/totp/", mfa_apis.TotpBeginApi.as_view(), name="auth-mfa-totp"),
    path(
        "auth/mfa/totp/confirm/",
        mfa_apis.TotpConfirmApi.as_view(),
        name="auth-mfa-totp-confirm",
    ),
    path("auth/mfa/verify/", mfa_apis.MfaVerifyApi.as_view(), name="auth-mfa-verify"),
    path(
        "auth/mfa/webauthn/register/begin/",
        mfa_apis.WebAuthnRegisterBeginApi.as_view(),
        name="auth-mfa-webauthn-register-begin",
    ),
    path(
        "auth/mfa/webauthn/register/finish/",
        mfa_apis.WebAuthnRegisterFinishApi.as_view(),
        name="auth-mfa-webauthn-register-finish",
    ),
    path(
        "auth/mfa/webauthn/verify/begin/",
        mfa_apis.WebAuthnVerifyBeginApi.as_view(),
        name="auth-mfa-webauthn-verify-begin",
    ),
    path(
        "auth/mfa/webauthn/verify/finish/",
        mfa_apis.WebAuthnVerifyFinishApi.as_view(),
        name="auth-mfa-webauthn-verify-finish",
    ),
    path("auth/mfa/<str:factor_id>/", mfa_apis.FactorDetailApi.as_view(), name="auth-mfa-factor"),
    path("", include(router.urls)),
]
