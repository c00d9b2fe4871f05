import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from tests.factories import UserFactory
from vioip.audit import services as audit
from vioip.audit.models import AppendOnlyError, AuditEvent

pytestmark = pytest.mark.django_db


def make_events(n=5):
    actor = UserFactory(role="clinician")
    patient = UserFactory(role="patient")
    return [
        audit.record(action="read", actor=actor, object_type="note", object_id=i, patient=patient)
        for i in range(n)
    ]


def raw_sql(sql, params):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # What a database superuser tampering with the table would do first.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")


def test_verify_audit_passes_on_an_intact_chain(capsys):
    make_events(5)
    call_command("verify_audit")
    assert "5 events" in capsys.readouterr().out


def test_events_are_chained(capsys):
    first, second, *_ = make_events(3)
    assert second.prev_hash == first.hash
    assert first.seq + 1 == second.seq


def test_verify_audit_fails_after_a_row_is_edited_by_hand():
    events = make_events(5)
    raw_sql("UPDATE audit_auditevent SET action = %s WHERE seq = %s", ["update", events[2].seq])
    with pytest.raises(CommandError, match=f"seq={events[2].seq}"):
        call_command("verify_audit")


def test_verify_audit_fails_after_a_row_is_deleted_by_hand():
    events = make_events(5)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = %s", [events[1].seq])
    with pytest.raises(CommandError, match=f"seq={events[1].seq}"):
        call_command("verify_audit")


def test_verify_audit_fails_when_the_newest_row_is_deleted():
    events = make_events(3)
    raw_sql("DELETE FROM audit_auditevent WHERE seq = %s", [events[-1].seq])
    with pytest.raises(CommandError, match="missing"):
        call_command("verify_audit")


def test_orm_refuses_updates_and_deletes():
    event = make_events(1)[0]
    event.action = "update"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="update")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigger exists on PostgreSQL")
def test_database_trigger_refuses_updates_and_deletes():
    event = make_events(1)[0]
    for sql in (
        "UPDATE audit_auditevent SET action = 'x' WHERE seq = %s",
        "DELETE FROM audit_auditevent WHERE seq = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [event.seq])
    assert AuditEvent.objects.get(pk=event.pk).action == "read"


def test_audit_api_is_for_auditors_only(client_for):
    make_events(2)
    for role in ["patient", "facilitator", "clinician", "admin"]:
        assert client_for(UserFactory(role=role)).get("/api/audit/").status_code == 403
        assert client_for(UserFactory(role=role)).get("/api/audit/verify/").status_code == 403


def test_auditor_lists_and_filters_the_trail(client_for):
    events = make_events(3)
    patient_id = events[0].patient_id
    audit.record(action="login_failed", outcome="denied", detail={"username": "x"})
    client = client_for(UserFactory(role="auditor"))
    body = client.get("/api/audit/").json()
    assert body["count"] >= 4
    denied = client.get("/api/audit/?outcome=denied").json()["results"]
    assert [e["action"] for e in denied] == ["login_failed"]
    by_patient = client.get(f"/api/audit/?patient={patient_id}").json()["results"]
    assert len(by_patient) == 3 and all(e["patient"] == patient_id for e in by_patient)
    since = (timezone.now() + dt.timedelta(minutes=1)).isoformat()
    assert client.get("/api/audit/", {"since": since}).json()["count"] == 0
    assert client.get(f"/api/audit/?action=read&actor={events[0].actor_id}").json()["count"] == 3
    verify = client.get("/api/audit/verify/").json()
    assert verify["intact"] is True


def test_bad_audit_filter_is_a_field_error(client_for):
    client = client_for(UserFactory(role="auditor"))
    response = client.get("/api/audit/?since=yesterday")
    assert response.status_code == 400
    assert "since" in response.json()["fields"]


def test_many_events_are_chained_in_one_write(django_assert_max_num_queries, capsys):
    actor = UserFactory(role="clinician")
    audit.record(action="login", actor=actor)
    with django_assert_max_num_queries(6):
        events = audit.record_many(
            {"action": "read", "actor": actor, "object_type": "note", "object_id": i}
            for i in range(50)
        )
    assert [e.seq for e in events] == list(range(2, 52))
    call_command("verify_audit")
    assert "51 events" in capsys.readouterr().out


def test_unknown_action_is_refused():
    with pytest.raises(ValueError, match="Unknown audit action"):
        audit.record(action="made-up")
    assert not AuditEvent.objects.exists()


def test_audit_filter_with_an_offset_postgresql_does_not_take_is_answered(client_for):
    # Python reads UTC offsets up to ±23:59; PostgreSQL refuses any beyond ±15:59.
    client = client_for(UserFactory(role="auditor"))
    response = client.get("/api/audit/?until=1204-05-29T11:56:08%2B19:11")
    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_audit_filter_moment_that_does_not_exist_in_utc_is_a_field_error(client_for):
    client = client_for(UserFactory(role="auditor"))
    response = client.get("/api/audit/?since=9999-12-31T23:00:00-05:00")
    assert response.status_code == 400
    assert "since" in response.json()["fields"]
