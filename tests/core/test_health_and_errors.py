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
