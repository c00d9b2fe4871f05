import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from groups.models import Enrollment
from tests.factories import EnrollmentFactory

pytestmark = pytest.mark.django_db

SECRET = "Patient disclosed relapse on Saturday; plan weekly outpatient follow-up."


def raw_value(pk):
    with connection.cursor() as cursor:
        cursor.execute("SELECT aftercare_notes FROM groups_enrollment WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_raw_column_never_holds_the_plaintext():
    enrollment = EnrollmentFactory(aftercare_notes=SECRET)
    stored = raw_value(enrollment.pk)
    assert SECRET not in stored and "relapse" not in stored
    assert Enrollment.objects.get(pk=enrollment.pk).aftercare_notes == SECRET


def test_rotation_keeps_values_readable_after_a_key_is_added_in_front(settings, capsys):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    enrollment = EnrollmentFactory(aftercare_notes=SECRET)
    before = raw_value(enrollment.pk)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_field_keys")
    assert "Re-encrypted" in capsys.readouterr().out
    after = raw_value(enrollment.pk)
    assert after != before
    # The old key can now be dropped: everything decrypts with the new key alone.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Enrollment.objects.get(pk=enrollment.pk).aftercare_notes == SECRET


def test_values_written_before_rotation_stay_readable_with_both_keys(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    enrollment = EnrollmentFactory(aftercare_notes=SECRET)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    assert Enrollment.objects.get(pk=enrollment.pk).aftercare_notes == SECRET
