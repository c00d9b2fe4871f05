import pytest

from tests.factories import PASSWORD, UserFactory
from vioip.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

NEW_USER = {
    "username": "new.patient",
    "password": "a-long-enough-passphrase-42",
    "role": "patient",
    "first_name": "Nova",
    "last_name": "Reyes",
    "email": "nova@example.org",
}


@pytest.mark.parametrize("role", ["patient", "facilitator", "clinician", "auditor"])
def test_users_api_is_refused_to_every_non_admin(client_for, role):
    caller = UserFactory(role=role)
    target = UserFactory(role="patient")
    client = client_for(caller)
    assert client.get("/api/users/").status_code == 403
    assert client.get(f"/api/users/{target.pk}/").status_code == 403
    assert client.post("/api/users/", NEW_USER, format="json").status_code == 403
    response = client.patch(f"/api/users/{target.pk}/", {"role": "admin"}, format="json")
    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role == "patient"


def test_anonymous_caller_gets_401_on_users(api):
    assert api.get("/api/users/").status_code == 401


def test_admin_creates_lists_and_retrieves_users_without_passwords(client_for):
    admin = UserFactory(role="admin")
    client = client_for(admin)
    created = client.post("/api/users/", NEW_USER, format="json")
    assert created.status_code == 201
    body = created.json()
    assert "password" not in body
    assert body["role"] == "patient" and body["is_active"] is True
    listing = client.get("/api/users/").json()
    assert {"count", "next", "previous", "results"} <= listing.keys()
    assert any(u["username"] == "new.patient" for u in listing["results"])
    assert client.get(f"/api/users/{body['id']}/").json()["username"] == "new.patient"
    login = client.post(
        "/api/auth/login/",
        {"username": "new.patient", "password": NEW_USER["password"]},
        format="json",
    )
    assert login.status_code == 200
    assert AuditEvent.objects.filter(action="create", object_type="user").count() == 1


def test_weak_password_is_a_field_error_and_creates_nothing(client_for):
    client = client_for(UserFactory(role="admin"))
    response = client.post("/api/users/", {**NEW_USER, "password": "123"}, format="json")
    assert response.status_code == 400
    assert "password" in response.json()["fields"]
    assert not UserFactory._meta.model.objects.filter(username="new.patient").exists()


def test_unknown_role_is_a_field_error(client_for):
    client = client_for(UserFactory(role="admin"))
    response = client.post("/api/users/", {**NEW_USER, "role": "superhero"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()["fields"]


def test_admin_changes_another_users_role(client_for):
    client = client_for(UserFactory(role="admin"))
    user = UserFactory(role="facilitator")
    response = client.patch(f"/api/users/{user.pk}/", {"role": "clinician"}, format="json")
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.role == "clinician"


def test_nobody_changes_their_own_role(client_for):
    admin = UserFactory(role="admin")
    response = client_for(admin).patch(
        f"/api/users/{admin.pk}/", {"role": "auditor"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["fields"]
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_deactivating_a_user_ends_their_tokens(client_for, api):
    admin_client = client_for(UserFactory(role="admin"))
    user = UserFactory(username="leaving", role="clinician")
    token = api.post(
        "/api/auth/login/", {"username": "leaving", "password": PASSWORD}, format="json"
    ).json()["token"]
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/auth/me/").status_code == 200
    response = admin_client.patch(f"/api/users/{user.pk}/", {"is_active": False}, format="json")
    assert response.status_code == 200
    assert api.get("/api/auth/me/").status_code == 401
    api.credentials()
    relogin = api.post(
        "/api/auth/login/", {"username": "leaving", "password": PASSWORD}, format="json"
    )
    assert relogin.status_code == 401


def test_users_are_never_hard_deleted(client_for):
    user = UserFactory(role="patient")
    response = client_for(UserFactory(role="admin")).delete(f"/api/users/{user.pk}/")
    assert response.status_code == 405
    assert UserFactory._meta.model.objects.filter(pk=user.pk).exists()


def test_page_size_is_capped(client_for):
    client = client_for(UserFactory(role="admin"))
    UserFactory.create_batch(3)
    body = client.get("/api/users/?page_size=2").json()
    assert len(body["results"]) == 2 and body["next"]
    assert client.get("/api/users/?page=99").status_code == 404
