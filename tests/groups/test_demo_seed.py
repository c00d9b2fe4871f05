import datetime as dt

import pytest
from django.utils import timezone

import groups.demo
import sessions_app.demo
import vioip.accounts.demo
from groups.models import CareTeamMember, Cohort, Enrollment
from sessions_app.models import Session

pytestmark = pytest.mark.django_db


def seed():
    context = {}
    for module in (vioip.accounts.demo, groups.demo, sessions_app.demo):
        module.seed(context)
    return context


def counts():
    return tuple(m.objects.count() for m in (Cohort, CareTeamMember, Enrollment, Session))


def test_demo_program_has_two_cohorts_with_teams_patients_and_an_open_session():
    context = seed()
    sud, mh = context["cohorts"]["sud"], context["cohorts"]["mh"]
    assert (sud.meeting_days, sud.start_time, sud.duration_minutes) == ([1, 2, 4], dt.time(18), 180)
    assert (mh.meeting_days, mh.start_time) == ([1, 2, 3, 4, 5], dt.time(9))
    assert {m.user.username for m in sud.care_team.all()} == {"fac.maria", "dr.chen"}
    assert {m.user.username for m in mh.care_team.all()} == {"fac.james", "dr.patel"}
    assert sud.enrollments.filter(status="active").count() == 6
    assert mh.enrollments.filter(status="active").count() == 6
    now = timezone.now()
    open_session = context["open_session"]
    assert open_session.cohort == sud
    assert open_session.kind == "group_therapy"
    assert open_session.starts_at < now < open_session.ends_at - dt.timedelta(hours=2)
    upcoming = Session.objects.filter(cohort=mh, starts_at__gt=now + dt.timedelta(weeks=3))
    assert upcoming.exists()


def test_seeding_twice_creates_nothing_new():
    first = seed()
    before = counts()
    second = seed()
    assert counts() == before
    assert second["open_session"].pk == first["open_session"].pk
