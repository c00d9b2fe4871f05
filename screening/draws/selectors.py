"""Random draws and compliance: the doors ``draw_for_user``, ``draw_cohort_for_user``,
``draw_schedule_for_user`` (unannounced draws) and ``compliance_cohort_for_user``, and the
compliance counts (no results) other reports receive as a contribution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from groups.models import Cohort, Enrollment, EnrollmentStatus
from groups.selectors import (
    cohort_zone,
    documentation_window_start,
    is_cohort_clinician,
    is_cohort_staff,
    staff_cohort_ids,
)
from screening.common import CLINICIAN_ROLES, COLLECTED_STATUSES, clinician_patient_ids, storable_id
from screening.models import (
    Draw,
    DrugTest,
    TestStatus,
)
from vioip.accounts.models import Role, User
from vioip.core import contributions
from vioip.core.errors import NotVisible


def screening_compliance_counts(
    *,
    patient_id: Any,
    cohort_id: Any,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """Tests due, taken and missed for one patient in one cohort, with no result in sight.

    Callable by other reports (attendance, billing) without any access to results; the
    caller has checked access to the patient. ``due`` counts orders whose day has come;
    ``taken`` every collection; ``missed`` orders past their deadline uncollected and
    refusals. Dates bound ``due_by``/``collected_at``.
    """
    now = timezone.now()
    qs = DrugTest.objects.filter(patient_id=patient_id, cohort_id=cohort_id)
    if start is not None:
        qs = qs.filter(Q(collected_at__date__gte=start) | Q(due_by__date__gte=start))
    if end is not None:
        qs = qs.filter(Q(collected_at__date__lte=end) | Q(due_by__date__lte=end))
    orders = qs.filter(due_by__isnull=False, due_from__lte=now)
    due = orders.count()
    taken = qs.filter(status__in=COLLECTED_STATUSES).count()
    missed = (
        orders.filter(status=TestStatus.ORDERED, due_by__lt=now).count()
        + qs.filter(status=TestStatus.REFUSED).count()
    )
    last = qs.filter(status__in=COLLECTED_STATUSES).aggregate(last=Max("collected_at"))["last"]
    return {"due": due, "taken": taken, "missed": missed, "last_collected_at": last}


def screening_compliance(
    *, patient_id: int, cohort_id: int, start: dt.date | None, end: dt.date | None
) -> contributions.ScreeningCompliance:
    """This app's contribution ``screening_compliance`` (registered in ``ScreeningConfig``):
    the counts of ``screening_compliance_counts``, nothing else."""
    counts = screening_compliance_counts(
        patient_id=patient_id, cohort_id=cohort_id, start=start, end=end
    )
    return contributions.ScreeningCompliance(
        due=counts["due"], taken=counts["taken"], missed=counts["missed"]
    )


def compliance_cohort_for_user(*, user: User, cohort_id: Any) -> Cohort:
    """The cohort, if ``user`` is on its care team (facilitator or clinician, role
    matching); NotVisible otherwise."""
    if user.role in (Role.FACILITATOR, Role.CLINICIAN) and is_cohort_staff(
        user=user, cohort_id=cohort_id
    ):
        cohort = Cohort.objects.filter(pk=cohort_id).first()
        if cohort is not None:
            return cohort
    raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="screening_compliance")


def compliance_patients(*, cohort: Cohort) -> list[User]:
    """The cohort's patients in its care team's care: active, or discharged inside the
    documentation window."""
    ids = Enrollment.objects.filter(
        Q(status=EnrollmentStatus.ACTIVE)
        | Q(status=EnrollmentStatus.DISCHARGED, discharged_on__gte=documentation_window_start()),
        cohort=cohort,
    ).values_list("patient_id", flat=True)
    return list(User.objects.filter(id__in=ids).order_by("last_name", "first_name", "id"))


def draw_cohort_for_user(*, user: User, cohort_id: Any) -> Cohort:
    """The cohort a random draw is run in: ``user`` is one of its clinicians now."""
    if user.role == Role.CLINICIAN and is_cohort_clinician(user=user, cohort_id=cohort_id):
        cohort = Cohort.objects.filter(pk=cohort_id).first()
        if cohort is not None:
            return cohort
    raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw")


def draws_for_user(*, user: User, cohort_id: Any = None) -> QuerySet[Draw]:
    """Draws of the cohorts ``user`` is a clinician of (a draw says who was selected for
    testing: a screening record, not a compliance count)."""
    if user.role != Role.CLINICIAN:
        raise PermissionDenied
    qs = Draw.objects.filter(cohort_id__in=staff_cohort_ids(user=user, roles=CLINICIAN_ROLES))
    if cohort_id is not None:
        qs = qs.filter(cohort_id=cohort_id)
    return qs.select_related("drawn_by")


def draw_for_user(*, user: User, draw_id: Any) -> Draw:
    """The draw, if ``user`` is a clinician of its cohort now; NotVisible otherwise."""
    draw = (
        Draw.objects.filter(pk=draw_id).select_related("drawn_by").first()
        if storable_id(draw_id)
        else None
    )
    if (
        draw is not None
        and user.role == Role.CLINICIAN
        and is_cohort_clinician(user=user, cohort_id=draw.cohort_id)
    ):
        return draw
    raise NotVisible(object_type="screening_draw", object_id=draw_id, attempted="read")


def selected_in_care(*, user: User, draws: Iterable[Draw]) -> dict[Any, list[Any]]:
    """Per draw, the selected patients still in ``user``'s care (active or inside the
    documentation window): who was selected is about each of them, and a patient out of
    the relationship is out of every list."""
    draws = list(draws)
    wanted = {p for d in draws for p in d.selected}
    in_care = (
        set(clinician_patient_ids(user=user).filter(patient_id__in=wanted)) if wanted else set()
    )
    return {d.pk: [p for p in d.selected if p in in_care] for d in draws}


@dataclass
class DrawNotice:
    """What the cohort's staff see of a draw: that it exists, for which day, how many were
    selected, and from that day on who is due. Before the day nobody but the cohort's
    clinicians (``draw_for_user``) sees who was selected: the test is unannounced."""

    draw: Draw
    announced: bool
    due: list[User]


def draw_schedule_for_user(*, user: User, cohort_id: Any) -> tuple[Cohort, list[DrawNotice]]:
    """The cohort's draws as its staff (facilitators and clinicians, role matching) may see
    them; NotVisible for anyone else. The due list holds the selected patients still in
    the care team's care (active, or inside the documentation window)."""
    if not (
        user.role in (Role.FACILITATOR, Role.CLINICIAN)
        and is_cohort_staff(user=user, cohort_id=cohort_id)
    ):
        raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw_schedule")
    cohort = Cohort.objects.filter(pk=cohort_id).first()
    if cohort is None:
        raise NotVisible(object_type="cohort", object_id=cohort_id, attempted="draw_schedule")
    today = timezone.localtime(timezone.now(), cohort_zone(cohort)).date()
    draws = list(Draw.objects.filter(cohort=cohort).order_by("-date", "-id"))
    announced = {d.pk for d in draws if d.date <= today}
    patients = {p.pk: p for p in compliance_patients(cohort=cohort)} if announced else {}
    return cohort, [
        DrawNotice(
            draw=d,
            announced=d.pk in announced,
            due=[patients[p] for p in d.selected if p in patients] if d.pk in announced else [],
        )
        for d in draws
    ]
