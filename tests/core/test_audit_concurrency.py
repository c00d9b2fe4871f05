import threading

import pytest
from django.core.management import call_command
from django.db import connections

from tests.factories import UserFactory
from vioip.audit import services as audit
from vioip.audit.models import AuditEvent


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_unbroken_chain(capsys):
    actor = UserFactory(role="clinician")
    writers, per_writer = 4, 15
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(per_writer):
                audit.record(action="read", actor=actor, object_type="note", object_id=i)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    seqs = list(AuditEvent.objects.values_list("seq", flat=True))
    assert seqs == list(range(1, writers * per_writer + 1))
    call_command("verify_audit")
    assert f"{writers * per_writer} events" in capsys.readouterr().out
