from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from screening.draws import selectors, services
from screening.models import Draw, DrugTest
from tests.factories import EnrollmentFactory, UserFactory
from tests.screening.conftest import events
from vioip.accounts.models import Role

pytestmark = pytest.mark.django_db

# 10:00 in New York: the cohort's day is well under way.
NOON = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def cohort_of_ten(cast: Any) -> list[Any]:
    extra = [
        EnrollmentFactory(cohort=cast.cohort, patient=UserFactory(role=Role.PATIENT)).patient
        for _ in range(9)
    ]
    return [cast.patient, *extra]


def _draw(client: Any, cohort: Any, day: dt.date, rate: str = "0.3") -> Any:
    return client.post(
        "/api/screening/draws/",
        {"cohort": cohort.pk, "date": day.isoformat(), "rate": rate},
        format="json",
    )


def test_draw_uses_the_secure_generator() -> None:
    assert isinstance(services._rng, secrets.SystemRandom)
    assert services.GENERATOR_NAME == "secrets.SystemRandom"


def test_draw_selects_the_share_with_the_secure_generator_and_records_it(
    clin: Any, cast: Any, cohort_of_ten: list[Any]
) -> None:
    pool_ids = sorted(p.pk for p in cohort_of_ten)
    with mock.patch.object(services._rng, "sample", wraps=services._rng.sample) as sample:
        response = _draw(clin, cast.cohort, timezone.localdate())
    assert response.status_code == 201
    sample.assert_called_once_with(pool_ids, 3)
    body = response.json()
    assert body["generator"] == "secrets.SystemRandom"
    assert body["pool_size"] == 10
    assert len(body["selected"]) == 3
    assert set(body["selected"]) <= set(pool_ids)
    draw = Draw.objects.get(pk=body["id"])
    assert draw.drawn_by == cast.clinician
    assert draw.pool == pool_ids
    orders = DrugTest.objects.filter(draw=draw)
    assert sorted(orders.values_list("patient_id", flat=True)) == sorted(body["selected"])
    assert set(orders.values_list("status", flat=True)) == {"ordered"}
    created = events(action="create", object_type="drug_test")
    assert {e.patient_id for e in created} == set(body["selected"])


def test_draws_are_not_predictable_from_one_to_the_next(
    clin: Any, cast: Any, cohort_of_ten: list[Any]
) -> None:
    selections = {
        tuple(_draw(clin, cast.cohort, timezone.localdate(), "0.5").json()["selected"])
        for _ in range(8)
    }
    # 252 possible selections of 5 from 10: eight identical draws would mean a fixed seed.
    assert len(selections) > 1


def test_selection_size_rounds_up_and_stays_in_the_pool() -> None:
    assert services.selection_size(10, Decimal("0.25")) == 3
    assert services.selection_size(3, Decimal("0.01")) == 1
    assert services.selection_size(4, Decimal("1")) == 4
    assert services.selection_size(0, Decimal("0.5")) == 0


@pytest.mark.parametrize("body", [{"rate": "0"}, {"rate": "1.5"}, {"date": "2000-01-01"}])
def test_bad_draw_input_is_refused_and_draws_nothing(
    clin: Any, cast: Any, body: dict[str, str]
) -> None:
    payload = {
        "cohort": cast.cohort.pk,
        "date": timezone.localdate().isoformat(),
        "rate": "0.5",
        **body,
    }
    response = clin.post("/api/screening/draws/", payload, format="json")
    assert response.status_code == 400
    assert set(body) <= set(response.json()["fields"])
    assert not Draw.objects.exists()


@pytest.mark.parametrize("role", ["facilitator", "other_clinician", "admin", "patient"])
def test_only_a_cohort_clinician_draws(role: str, cast: Any, client_for: Any) -> None:
    response = _draw(client_for(getattr(cast, role)), cast.cohort, timezone.localdate())
    assert response.status_code in (403, 404)
    assert not Draw.objects.exists()


def test_cohort_clinicians_list_draws_and_nobody_else_does(
    clin: Any, cast: Any, client_for: Any, cohort_of_ten: list[Any]
) -> None:
    drawn = _draw(clin, cast.cohort, timezone.localdate()).json()
    listed = clin.get("/api/screening/draws/").json()["results"]
    assert [d["id"] for d in listed] == [drawn["id"]]
    assert listed[0]["selected"] == drawn["selected"]
    reads = events(action="read", object_type="screening_draw", actor=cast.clinician)
    assert sorted(e.patient_id for e in reads) == sorted(drawn["selected"])
    detail = clin.get(f"/api/screening/draws/{drawn['id']}/")
    assert detail.status_code == 200 and detail.json()["selected"] == drawn["selected"]
    assert client_for(cast.other_clinician).get("/api/screening/draws/").json()["results"] == []
    other = client_for(cast.other_clinician).get(f"/api/screening/draws/{drawn['id']}/")
    assert other.status_code == 404
    assert events(action="denied", object_type="screening_draw")[-1].actor_id == (
        cast.other_clinician.pk
    )
    # Who was selected is a screening record: facilitators see compliance counts only.
    for role in ("facilitator", "patient", "admin", "auditor"):
        assert client_for(getattr(cast, role)).get("/api/screening/draws/").status_code == 403


def test_patient_does_not_see_an_order_before_its_day(
    clin: Any, cast: Any, client_for: Any
) -> None:
    with time_machine.travel(NOON, tick=False):
        tomorrow = dt.date(2026, 3, 11)
        draw = _draw(clin, cast.cohort, tomorrow, "1").json()
        assert draw["selected"] == [cast.patient.pk]
        order = DrugTest.objects.get(draw_id=draw["id"])
        patient = client_for(cast.patient)
        assert patient.get("/api/me/records/screening/").json()["results"] == []
        assert patient.get(f"/api/screening/tests/{order.pk}/").status_code == 404
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        patient = client_for(cast.patient)
        mine = patient.get("/api/me/records/screening/").json()["results"]
        assert [t["id"] for t in mine] == [order.pk]
        assert mine[0]["overall"] is None


def test_order_not_collected_by_its_deadline_is_a_no_show(
    clin: Any, cast: Any, client_for: Any
) -> None:
    with time_machine.travel(NOON, tick=False):
        draw = _draw(clin, cast.cohort, dt.date(2026, 3, 10), "1").json()
        order = DrugTest.objects.get(draw_id=draw["id"])
        assert clin.get(f"/api/screening/tests/{order.pk}/").json()["overall"] is None
    # The cohort is in New York: its day ends at 04:00 UTC the next day.
    with time_machine.travel(dt.datetime(2026, 3, 11, 4, 1, tzinfo=dt.UTC), tick=False):
        clin = client_for(cast.clinician)
        assert clin.get(f"/api/screening/tests/{order.pk}/").json()["overall"] == "no_show"
        late = clin.post(
            f"/api/screening/tests/{order.pk}/collect/",
            {"collected_at": timezone.now().isoformat(), "specimen": "urine"},
            format="json",
        )
        assert late.status_code == 409
        counts = selectors.screening_compliance_counts(
            patient_id=cast.patient.pk, cohort_id=cast.cohort.pk
        )
        assert counts == {"due": 1, "taken": 0, "missed": 1, "last_collected_at": None}


def test_order_collected_in_time_counts_as_taken(clin: Any, cast: Any) -> None:
    with time_machine.travel(NOON, tick=False):
        draw = _draw(clin, cast.cohort, dt.date(2026, 3, 10), "1").json()
        order = DrugTest.objects.get(draw_id=draw["id"])
        response = clin.post(
            f"/api/screening/tests/{order.pk}/collect/",
            {
                "collected_at": timezone.now().isoformat(),
                "specimen": "oral_fluid",
                "observed": True,
                "chain_of_custody_id": "CCF-9",
            },
            format="json",
        )
        assert response.status_code == 200
        assert response.json()["status"] == "collected"
    with time_machine.travel(NOON + dt.timedelta(days=2), tick=False):
        counts = selectors.screening_compliance_counts(
            patient_id=cast.patient.pk, cohort_id=cast.cohort.pk
        )
        assert counts["due"] == 1 and counts["taken"] == 1 and counts["missed"] == 0
        assert counts["last_collected_at"] == NOON


def test_refusal_to_collect_is_recorded_as_refused(clin: Any, cast: Any) -> None:
    with time_machine.travel(NOON, tick=False):
        draw = _draw(clin, cast.cohort, dt.date(2026, 3, 10), "1").json()
        order = DrugTest.objects.get(draw_id=draw["id"])
        body = clin.post(
            f"/api/screening/tests/{order.pk}/collect/", {"refused": True}, format="json"
        ).json()
        assert body["status"] == "refused"
        assert body["overall"] == "refused"


def test_facilitator_sees_compliance_without_results(
    clin: Any, cast: Any, client_for: Any, resulted_test: Any
) -> None:
    resulted_test([{"analyte": "COC", "result": "positive"}])
    response = client_for(cast.facilitator).get(
        f"/api/screening/compliance/?cohort={cast.cohort.pk}"
    )
    assert response.status_code == 200
    rows = {r["patient"]: r for r in response.json()["patients"]}
    row = rows[cast.patient.pk]
    assert row["taken"] == 1
    assert set(row) == {"patient", "name", "due", "taken", "missed", "last_collected_at"}
    text = response.content.decode()
    assert "positive" not in text and "COC" not in text
    reads = events(action="read", object_type="screening_compliance")
    assert cast.patient.pk in {e.patient_id for e in reads}


@pytest.mark.parametrize("role", ["other_clinician", "admin", "auditor", "patient", "outsider"])
def test_compliance_is_for_the_cohorts_staff_only(role: str, cast: Any, client_for: Any) -> None:
    response = client_for(getattr(cast, role)).get(
        f"/api/screening/compliance/?cohort={cast.cohort.pk}"
    )
    assert response.status_code in (403, 404)


def test_compliance_needs_a_cohort(cast: Any, client_for: Any) -> None:
    response = client_for(cast.facilitator).get("/api/screening/compliance/")
    assert response.status_code == 400
    assert "cohort" in response.json()["fields"]


SCHEDULE = "/api/screening/draw-schedule/"


def test_facilitator_sees_that_a_draw_exists_but_not_whom_before_its_day(
    cast: Any, client_for: Any, cohort_of_ten: list[Any]
) -> None:
    names = {p.pk: p.display_name for p in cohort_of_ten}
    with time_machine.travel(NOON, tick=False):
        drawn = _draw(client_for(cast.clinician), cast.cohort, dt.date(2026, 3, 11)).json()
    assert len(drawn["selected"]) == 3
    # 23:30 on the 10th in New York (03:30 UTC on the 11th): not yet the draw's day there.
    with time_machine.travel(dt.datetime(2026, 3, 11, 3, 30, tzinfo=dt.UTC), tick=False):
        fac = client_for(cast.facilitator)
        response = fac.get(f"{SCHEDULE}?cohort={cast.cohort.pk}")
        assert response.status_code == 200, response.json()
        [row] = response.json()["results"]
        assert row == {
            "id": drawn["id"],
            "cohort": cast.cohort.pk,
            "date": "2026-03-11",
            "selected_count": 3,
            "announced": False,
            "due": None,
        }
        body = response.content.decode()
        assert not any(names[p] in body for p in drawn["selected"])
        assert not events(actor=cast.facilitator, object_type="screening_draw", action="read")
        # The selection itself stays with the cohort's clinicians.
        assert fac.get("/api/screening/draws/").status_code == 403
        assert fac.get(f"/api/screening/draws/{drawn['id']}/").status_code == 404
        clin = client_for(cast.clinician)
        assert (
            clin.get(f"/api/screening/draws/{drawn['id']}/").json()["selected"]
            == (drawn["selected"])
        )


def test_facilitator_sees_who_is_due_on_the_draws_day(
    cast: Any, client_for: Any, cohort_of_ten: list[Any]
) -> None:
    with time_machine.travel(NOON, tick=False):
        drawn = _draw(client_for(cast.clinician), cast.cohort, dt.date(2026, 3, 11)).json()
    # 00:30 on the 11th in New York.
    with time_machine.travel(dt.datetime(2026, 3, 11, 4, 30, tzinfo=dt.UTC), tick=False):
        fac = client_for(cast.facilitator)
        [row] = fac.get(f"{SCHEDULE}?cohort={cast.cohort.pk}").json()["results"]
    assert row["announced"] is True
    assert sorted(d["patient"] for d in row["due"]) == sorted(drawn["selected"])
    assert all(d["name"] for d in row["due"])
    reads = events(actor=cast.facilitator, object_type="screening_draw", action="read")
    assert sorted(e.patient_id for e in reads) == sorted(drawn["selected"])


@pytest.mark.parametrize("role", ["other_clinician", "outsider"])
def test_staff_of_another_cohort_do_not_see_its_draw_schedule(
    role: str, clin: Any, cast: Any, client_for: Any
) -> None:
    _draw(clin, cast.cohort, timezone.localdate(), "1")

    response = client_for(getattr(cast, role)).get(f"{SCHEDULE}?cohort={cast.cohort.pk}")

    assert response.status_code == 404
    denial = events(action="denied")[-1]
    assert denial.actor_id == getattr(cast, role).pk


@pytest.mark.parametrize("role", ["patient", "admin", "auditor"])
def test_roles_outside_the_care_team_do_not_see_draw_schedules(
    role: str, clin: Any, cast: Any, client_for: Any
) -> None:
    _draw(clin, cast.cohort, timezone.localdate(), "1")

    response = client_for(getattr(cast, role)).get(f"{SCHEDULE}?cohort={cast.cohort.pk}")

    assert response.status_code in (403, 404)
    assert str(cast.patient.display_name) not in response.content.decode()


def test_draw_schedule_needs_a_cohort(cast: Any, client_for: Any) -> None:
    response = client_for(cast.facilitator).get(SCHEDULE)
    assert response.status_code == 400
    assert "cohort" in response.json()["fields"]
