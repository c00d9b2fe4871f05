from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from groups.models import CareTeamMember, Cohort, Enrollment, Track
from sessions_app.models import Session, SessionKind
from vioip.accounts.models import Role, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    role = Role.PATIENT
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):  # type: ignore[no-untyped-def]
        if create and results:
            instance.save(update_fields=["password"])


class CohortFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cohort

    name = factory.Sequence(lambda n: f"Cohort {n}")
    track = Track.SUBSTANCE_USE
    timezone = "America/New_York"
    meeting_days = [1, 2, 4]
    start_time = dt.time(18, 0)
    duration_minutes = 180
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=14))


class CareTeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CareTeamMember

    cohort = factory.SubFactory(CohortFactory)
    user = factory.SubFactory(UserFactory, role=Role.CLINICIAN)
    role = factory.LazyAttribute(lambda m: m.user.role)


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    cohort = factory.SubFactory(CohortFactory)
    patient = factory.SubFactory(UserFactory, role=Role.PATIENT)
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=7))


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    cohort = factory.SubFactory(CohortFactory)
    kind = SessionKind.GROUP_THERAPY
    title = "Group therapy"
    starts_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=5))
    ends_at = factory.LazyAttribute(lambda s: s.starts_at + dt.timedelta(hours=3))
    waiting_room = True
