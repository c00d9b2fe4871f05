import pytest

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_runs(api):
    assert api.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ready_when_database_and_channel_layer_answer(api):
    response = api.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "channel_layer": True}


def test_readyz_answers_503_when_the_channel_layer_is_unreachable(api, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
        }
    }
    response = api.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["channel_layer"] is False


def test_unknown_api_path_is_a_json_404(api):
    response = api.get("/api/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_responses_carry_a_request_id_from_a_trusted_proxy_only(api, settings):
    settings.TRUSTED_PROXIES = ("10.0.0.0/8",)
    through_proxy = api.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-12345", REMOTE_ADDR="10.1.2.3")
    assert through_proxy["X-Request-ID"] == "proxy-id-12345"
    from_client = api.get("/healthz", HTTP_X_REQUEST_ID="proxy-id-12345", REMOTE_ADDR="203.0.113.9")
    assert from_client["X-Request-ID"] != "proxy-id-12345"
    assert len(from_client["X-Request-ID"]) == 32
    smuggled = api.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline", REMOTE_ADDR="10.1.2.3")
    assert smuggled["X-Request-ID"] != "bad id\nwith newline"


# --- JSON errors in every mode ---------------------------------------------------------------

DEBUG_MODES = [pytest.param(False, id="production"), pytest.param(True, id="debug")]


@pytest.fixture
def lenient_client(client_for):
    # The failure tests want the 500 the server answers, not the exception re-raised.
    client = client_for(None)
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize("debug", DEBUG_MODES)
@pytest.mark.parametrize("path", ["/api/no-such-thing/", "/nowhere", "/api/sessions/x/y/"])
def test_a_path_that_matches_nothing_is_the_json_404_in_every_mode(api, settings, debug, path):
    settings.DEBUG = debug
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    # Never the debug page that lists every route.
    assert b"URLconf" not in response.content and b"api/" not in response.content


@pytest.mark.parametrize("debug", DEBUG_MODES)
def test_a_post_without_the_trailing_slash_names_the_right_path(api, settings, debug):
    settings.DEBUG = debug
    response = api.post("/api/auth/login", {"username": "alex", "password": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "/api/auth/login/" in response.json()["detail"]
    assert "no-store" in response["Cache-Control"]


def test_a_get_without_the_trailing_slash_is_redirected_to_it(api):
    response = api.get("/api/auth/me?x=1")
    assert response.status_code == 301
    assert response["Location"] == "/api/auth/me/?x=1"
    # A path that matches nothing even with the slash is the plain 404.
    assert api.get("/api/auth/nothing").status_code == 404


def test_a_redirect_never_points_to_another_host(api):
    # "//host/..." would be a protocol-relative URL: another origin.
    response = api.get("//evil.example/api/auth/me")
    assert response.status_code in (301, 404)
    assert not response.get("Location", "").startswith("//")


@pytest.mark.parametrize("debug", DEBUG_MODES)
def test_a_failure_below_the_views_is_the_json_500_with_a_ref_in_every_mode(
    lenient_client, settings, monkeypatch, debug
):
    from django.middleware.csrf import CsrfViewMiddleware

    settings.DEBUG = debug
    secret = "PHI-Alex-Rivera-in-a-local"

    def broken(self, request, *args):
        patient_name = secret  # a local variable the debug page would show
        raise RuntimeError(f"failed for {patient_name}")

    monkeypatch.setattr(CsrfViewMiddleware, "process_view", broken)
    response = lenient_client.get("/api/auth/me/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "server_error"
    assert body["ref"] == response["X-Request-ID"]
    assert secret.encode() not in response.content
