from django.urls import include, path
from rest_framework.routers import SimpleRouter

from vioip.accounts import apis

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
    path("", include(router.urls)),
]
