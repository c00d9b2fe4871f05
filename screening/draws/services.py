"""Random draws: select a share of a cohort's active patients and order a test for each."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from groups.selectors import patients_of_cohort
from screening.draws.selectors import draw_cohort_for_user
from screening.models import (
    Draw,
    DrugTest,
    TestStatus,
)
from vioip.accounts.models import User
from vioip.audit import services as audit
from vioip.audit.models import Action

# The draw's generator: the OS's cryptographically secure source, so nobody (staff included)
# can predict or reproduce who is selected.
_rng = secrets.SystemRandom()
GENERATOR_NAME = "secrets.SystemRandom"


def _day_bounds(day: dt.date, tz_name: str) -> tuple[dt.datetime, dt.datetime]:
    tz = ZoneInfo(tz_name)
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def selection_size(pool_size: int, rate: Decimal) -> int:
    """That share of the pool, rounded up so a positive rate always selects someone."""
    if pool_size == 0:
        return 0
    return min(pool_size, max(1, math.ceil(pool_size * rate)))


@transaction.atomic
def draw_create(
    *,
    actor: User,
    cohort_id: Any,
    date: dt.date,
    rate: Decimal,
) -> Draw:
    """Select ``rate`` of the cohort's active patients for testing on ``date`` and order a
    test for each, due by the end of that day in the cohort's time zone."""
    cohort = draw_cohort_for_user(user=actor, cohort_id=cohort_id)
    errors: dict[str, list[str]] = {}
    if not (Decimal(0) < rate <= Decimal(1)):
        errors["rate"] = ["Rate is a share of the cohort: more than 0 and at most 1."]
    if date < timezone.localtime(timezone.now(), ZoneInfo(cohort.timezone)).date():
        errors["date"] = ["A draw is for today or a later day."]
    if errors:
        raise ValidationError(errors)
    pool = sorted(patients_of_cohort(cohort_id=cohort.pk).values_list("id", flat=True))
    selected = sorted(_rng.sample(pool, selection_size(len(pool), rate)))
    now = timezone.now()
    draw = Draw.objects.create(
        cohort=cohort,
        date=date,
        rate=rate,
        drawn_by=actor,
        drawn_at=now,
        pool=pool,
        selected=selected,
        generator=GENERATOR_NAME,
    )
    due_from, due_by = _day_bounds(date, cohort.timezone)
    orders = [
        DrugTest.objects.create(
            patient_id=patient_id,
            cohort=cohort,
            reason="random",
            status=TestStatus.ORDERED,
            ordered_by=actor,
            draw=draw,
            due_from=due_from,
            due_by=due_by,
        )
        for patient_id in selected
    ]
    audit.record_many(
        {
            "action": Action.CREATE,
            "actor": actor,
            "object_type": "drug_test",
            "object_id": test.pk,
            "patient": test.patient_id,
            "detail": {"draw": draw.pk},
        }
        for test in orders
    )
    audit.record(
        action=Action.CREATE,
        actor=actor,
        object_type="screening_draw",
        object_id=draw.pk,
        detail={"cohort": cohort.pk, "pool": len(pool), "selected": len(selected)},
    )
    return draw
