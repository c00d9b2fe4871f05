import threading

import pytest
from django.db import connections

from groups.models import Enrollment
from tests.factories import (
    CohortFactory,
    EnrollmentFactory,
    UserFactory,
)
from vioip.accounts.models import Role


@pytest.mark.django_db(transaction=True)
def test_two_admissions_at_once_cannot_both_take_the_last_place(client_for):
    cohort = CohortFactory(capacity=2)
    EnrollmentFactory(cohort=cohort)
    admin = UserFactory(role=Role.ADMIN)
    newcomers = [UserFactory(role=Role.PATIENT) for _ in range(4)]
    clients = [client_for(admin) for _ in newcomers]
    barrier = threading.Barrier(len(newcomers))
    statuses = []

    def admit(client, patient):
        try:
            barrier.wait()
            response = client.post(
                f"/api/cohorts/{cohort.pk}/enrollments/",
                {"patient": patient.pk, "start_date": "2027-01-04"},
                format="json",
            )
            statuses.append(response.status_code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=admit, args=pair) for pair in zip(clients, newcomers, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 400, 400, 400]
    assert Enrollment.objects.filter(cohort=cohort, status="active").count() == 2
