from __future__ import annotations

import pytest
from django.core.management import call_command

from sessions_app.attendance.models import AttendanceAdjustment, PlannedAbsence
from sessions_app.rooms.models import AttendanceSegment


@pytest.mark.django_db
def test_seed_demo_adds_attendance_once_and_the_report_reads_it(settings, client_for):
    settings.DEBUG = True
    call_command("seed_demo")
    counts = (
        AttendanceSegment.objects.count(),
        AttendanceAdjustment.objects.count(),
        PlannedAbsence.objects.count(),
    )
    call_command("seed_demo")

    assert counts[0] > 0 and counts[1] > 0 and counts[2] > 0
    assert counts == (
        AttendanceSegment.objects.count(),
        AttendanceAdjustment.objects.count(),
        PlannedAbsence.objects.count(),
    )
    from vioip.accounts.models import User

    clinician = User.objects.get(username="dr.chen")
    cohort_id = AttendanceAdjustment.objects.first().session.cohort_id
    response = client_for(clinician).get(f"/api/cohorts/{cohort_id}/billing-days/")
    assert response.status_code == 200
