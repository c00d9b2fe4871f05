"""The attacks that cut the audit trail short, each made as the tables' owner would make
them (triggers lifted), and the verification that must catch them.

Deleting rows and resetting the head work on both databases; TRUNCATE and its trigger
exist on PostgreSQL only.
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.factories import UserFactory
from vioip.audit import services as audit
from vioip.audit.models import AuditChainHead, AuditEvent

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="TRUNCATE and its trigger exist on PostgreSQL"
)


def make_events(n):
    actor = UserFactory(role="clinician")
    patient = UserFactory(role="patient")
    return [
        audit.record(action="read", actor=actor, object_type="note", object_id=i, patient=patient)
        for i in range(n)
    ]


def as_owner(*statements):
    """Run SQL as the owner of the audit tables: lift their triggers first, then restore."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # (Fire the test transaction's deferred foreign-key checks, which would keep
            # ALTER TABLE and TRUNCATE from running inside it.)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditchainhead DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
            cursor.execute("ALTER TABLE audit_auditchainhead ENABLE TRIGGER USER")


def set_head(seq, head_hash, mac):
    return (
        "UPDATE audit_auditchainhead SET seq = %s, hash = %s, mac = %s WHERE id = 1",
        [seq, head_hash, mac],
    )


def empty_the_trail():
    if connection.vendor == "postgresql":
        return ("TRUNCATE audit_auditevent", [])
    return ("DELETE FROM audit_auditevent", [])


def head_row():
    head = AuditChainHead.objects.get(pk=1)
    return head.seq, head.hash, head.mac


def checkpoint_file(tmp_path, name="checkpoints.jsonl"):
    path = tmp_path / name
    call_command("audit_checkpoint", output=str(path))
    return path


def test_deleting_the_newest_events_and_moving_the_head_back_fails_verification():
    events = make_events(5)
    as_owner(
        ("DELETE FROM audit_auditevent WHERE seq > %s", [3]),
        # Without the key the old MAC stays: it signs seq 5, not seq 3.
        ("UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [3, events[2].hash]),
    )
    with pytest.raises(CommandError, match="chain head does not authenticate"):
        call_command("verify_audit")


def test_a_head_moved_back_with_a_made_up_mac_fails_verification():
    events = make_events(4)
    as_owner(
        ("DELETE FROM audit_auditevent WHERE seq = %s", [4]),
        set_head(3, events[2].hash, "f" * 64),
    )
    with pytest.raises(CommandError, match="chain head does not authenticate"):
        call_command("verify_audit")


def test_the_api_reports_a_head_that_does_not_authenticate(client_for):
    events = make_events(3)
    as_owner(
        ("DELETE FROM audit_auditevent WHERE seq = %s", [3]),
        ("UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [2, events[1].hash]),
    )
    body = client_for(UserFactory(role="auditor")).get("/api/audit/verify/").json()
    assert body["intact"] is False
    assert "chain head does not authenticate" in body["problem"]


def test_a_head_restored_from_an_older_state_is_caught_by_a_checkpoint(tmp_path):
    make_events(3)
    older_head = head_row()  # the owner kept a copy of the head row at seq 3
    make_events(2)
    path = checkpoint_file(tmp_path)
    as_owner(("DELETE FROM audit_auditevent WHERE seq > %s", [3]), set_head(*older_head))
    with pytest.raises(CommandError, match="shorter than a checkpoint"):
        call_command("verify_audit", checkpoint=str(path))


@postgresql_only
def test_truncate_of_the_audit_tables_is_refused_by_a_trigger():
    make_events(3)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("audit_auditevent", "audit_auditchainhead"):
        with (
            pytest.raises(DatabaseError, match="cannot be truncated"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert AuditEvent.objects.count() == 3
    call_command("verify_audit")


def test_emptying_the_trail_and_resetting_the_head_fails_verification_when_users_exist():
    make_events(4)
    # The strongest owner: the head reset to the genesis state with its genuine MAC (the
    # same in every installation with this key, so it could have been copied).
    as_owner(
        empty_the_trail(),
        set_head(0, audit.GENESIS, audit.head_mac(0, audit.GENESIS)),
    )
    with pytest.raises(CommandError, match="empty in a database that has users"):
        call_command("verify_audit")


def test_emptying_the_trail_and_deleting_the_head_fails_verification_when_users_exist():
    make_events(2)
    as_owner(empty_the_trail(), ("DELETE FROM audit_auditchainhead", []))
    with pytest.raises(CommandError, match="empty in a database that has users"):
        call_command("verify_audit")


def test_an_empty_trail_without_users_is_a_fresh_install(capsys):
    call_command("verify_audit")
    assert "0 events verified" in capsys.readouterr().out


def test_a_checkpoint_taken_before_the_trail_was_emptied_fails_verification(tmp_path):
    make_events(4)
    path = checkpoint_file(tmp_path)
    as_owner(empty_the_trail(), ("DELETE FROM audit_auditchainhead", []))
    with pytest.raises(CommandError, match=r"shorter than a checkpoint \(0 events, .* seq 4\)"):
        call_command("verify_audit", checkpoint=str(path))


def test_a_trail_rewritten_past_a_checkpoint_fails_even_for_a_key_holder(tmp_path):
    events = make_events(5)
    path = checkpoint_file(tmp_path)
    # Someone with the key cuts the trail at seq 2, signs the head and lets the application
    # write new events: a valid chain, but not the one the checkpoint vouched for.
    as_owner(
        ("DELETE FROM audit_auditevent WHERE seq > %s", [2]),
        set_head(2, events[1].hash, audit.head_mac(2, events[1].hash)),
    )
    call_command("verify_audit")  # the chain alone cannot tell
    make_events(3)
    with pytest.raises(CommandError, match="seq=5: trail diverges from a checkpoint"):
        call_command("verify_audit", checkpoint=str(path))


def test_every_line_of_the_checkpoint_file_is_checked(tmp_path):
    make_events(2)
    path = checkpoint_file(tmp_path)
    make_events(2)
    checkpoint_file(tmp_path)
    as_owner(("UPDATE audit_auditevent SET action = %s WHERE seq = %s", ["update", 2]))
    with pytest.raises(CommandError, match="seq=2: event altered"):
        call_command("verify_audit", checkpoint=str(path))


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: {**c, "seq": c["seq"] - 1},
        lambda c: {**c, "hash": "0" * 64},
        lambda c: {**c, "time": "2020-01-01T00:00:00+00:00"},
        lambda c: {**c, "mac": "0" * 64},
        lambda c: {k: v for k, v in c.items() if k != "mac"},
    ],
    ids=["seq", "hash", "time", "mac", "unsigned"],
)
def test_a_forged_checkpoint_fails_verification(tmp_path, forge):
    make_events(3)
    path = checkpoint_file(tmp_path)
    line = json.loads(path.read_text().splitlines()[-1])
    path.write_text(path.read_text() + json.dumps(forge(line)) + "\n")
    with pytest.raises(CommandError, match="line 2: "):
        call_command("verify_audit", checkpoint=str(path))


def test_a_checkpoint_signed_with_another_key_fails_verification(tmp_path, settings):
    make_events(2)
    path = checkpoint_file(tmp_path)
    settings.AUDIT_KEY = "another-audit-key-" + "x" * 32
    with pytest.raises(CommandError, match="line 1: the checkpoint's signature does not"):
        call_command("verify_audit", checkpoint=str(path))


def test_a_file_that_is_not_checkpoints_fails_verification(tmp_path):
    make_events(1)
    for text in ("not json\n", "\n", '{"seq": "1", "hash": "", "time": "", "mac": ""}\n'):
        path = tmp_path / "checkpoints.jsonl"
        path.write_text(text)
        with pytest.raises(CommandError, match="checkpoint"):
            call_command("verify_audit", checkpoint=str(path))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("verify_audit", checkpoint=str(tmp_path / "missing.jsonl"))


def test_an_intact_trail_passes_against_its_checkpoints(tmp_path, capsys):
    make_events(3)
    path = checkpoint_file(tmp_path)
    make_events(2)
    checkpoint_file(tmp_path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [c["seq"] for c in lines] == [3, 5]
    assert lines[1]["hash"] == AuditEvent.objects.get(seq=5).hash
    assert set(lines[1]) == {"seq", "hash", "time", "mac"}
    call_command("verify_audit", checkpoint=str(path))
    assert "5 events verified against 2 checkpoints" in capsys.readouterr().out


def test_checkpoint_goes_to_stdout_for_a_log_shipper(capsys):
    make_events(2)
    call_command("audit_checkpoint")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    checkpoint = audit.checkpoint_parse(out[0])
    assert (checkpoint.seq, checkpoint.hash) == (2, AuditEvent.objects.get(seq=2).hash)


def test_no_checkpoint_is_signed_for_a_head_that_does_not_authenticate(tmp_path):
    events = make_events(3)
    as_owner(
        ("DELETE FROM audit_auditevent WHERE seq = %s", [3]),
        ("UPDATE audit_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [2, events[1].hash]),
    )
    path = tmp_path / "checkpoints.jsonl"
    with pytest.raises(CommandError, match="head does not authenticate"):
        call_command("audit_checkpoint", output=str(path))
    assert not path.exists()


def test_no_checkpoint_is_signed_for_a_head_past_the_last_event(tmp_path):
    make_events(3)
    as_owner(("DELETE FROM audit_auditevent WHERE seq = %s", [3]))
    with pytest.raises(CommandError, match="does not match the last event"):
        call_command("audit_checkpoint")


@pytest.mark.django_db(transaction=True)
def test_upgrading_signs_the_head_of_an_existing_trail():
    from django.db.migrations.executor import MigrationExecutor

    make_events(3)
    before, after = (
        [("audit", "0002_append_only_trigger")],
        [("audit", "0003_signed_head_and_truncate_trigger")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_state = executor.loader.project_state(before).apps
        assert not hasattr(old_state.get_model("audit", "AuditChainHead")(), "mac")
        executor.loader.build_graph()
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )
    seq, head_hash, mac = head_row()
    assert seq == 3 and mac == audit.head_mac(3, head_hash)
    call_command("verify_audit")
