"""Demo notes on the demo cohorts: a signed and co-signed group note, a draft group note,
signed (one with an addendum) and draft progress notes, and a psychotherapy note.

Written through the services, so they pass the same rules as notes written through the API
(and are audited the same way). Idempotent: a cohort that already has notes is left alone.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from groups.models import CareTeamMember, Enrollment, EnrollmentStatus, StaffRole
from groups.notes import services
from groups.notes.models import Note
from sessions_app.models import Session, SessionKind, SessionStatus

SHARED = [
    {
        "topic": "Relapse prevention: mapping high-risk situations",
        "interventions": "CBT chain analysis, role play of refusal skills",
        "themes": "Holiday stress, isolation, rebuilding trust at home",
    },
    {
        "topic": "Distress tolerance: TIPP and self-soothing",
        "interventions": "DBT skills teaching, paced breathing practice",
        "themes": "Sleep, work pressure, asking for help",
    },
]
ENTRY = {
    "participation": "Engaged; shared an example from the week.",
    "progress": "Practised a coping skill toward treatment-plan goal 2.",
    "mood": "Euthymic, full range of affect.",
    "risk": "none",
}
SOAP = {
    "subjective": "Reports fewer cravings since starting the evening routine.",
    "objective": "On time, alert, engaged; attended all sessions this week.",
    "assessment": "Improving use of coping skills; motivation steady.",
    "plan": "Continue IOP; review relapse-prevention plan next week.",
}
DAP = {
    "data": "Discussed family conflict and a recent argument at home.",
    "assessment": "Uses avoidance under stress; open to practising assertiveness.",
    "plan": "Rehearse I-statements in group; family session next week.",
}


def _staff(cohort: Any, role: str) -> Any:
    member = CareTeamMember.objects.filter(cohort=cohort, role=role).select_related("user").first()
    return member.user if member else None


def _past_group_sessions(cohort: Any) -> list[Session]:
    return list(
        Session.objects.filter(
            cohort=cohort,
            kind=SessionKind.GROUP_THERAPY,
            ends_at__lt=timezone.now(),
        )
        .exclude(status=SessionStatus.CANCELLED)
        .order_by("-starts_at")[:2]
    )


def _seed_cohort(cohort: Any) -> int:
    facilitator = _staff(cohort, StaffRole.FACILITATOR)
    clinician = _staff(cohort, StaffRole.CLINICIAN)
    created = 0
    sessions = _past_group_sessions(cohort)
    author = facilitator or clinician
    for index, session in enumerate(sessions if author else []):
        entries = [
            {"patient": patient_id, **ENTRY}
            for patient_id in sorted(services.attended_patient_ids(session=session))
        ]
        note = services.group_note_create(
            author=author, session=session, shared=SHARED[index % 2], entries=entries
        )
        created += 1
        if index == 1:  # the older session: signed, and co-signed when a facilitator wrote it
            services.note_sign(note=note, actor=author)
            if facilitator and clinician:
                services.note_cosign(note=note, actor=clinician)

    patient_ids = list(
        Enrollment.objects.filter(cohort=cohort, status=EnrollmentStatus.ACTIVE)
        .order_by("id")
        .values_list("patient_id", flat=True)[:2]
    )
    if clinician is None:
        return created
    for index, patient_id in enumerate(patient_ids):
        signed = services.progress_note_create(
            author=clinician, patient_id=patient_id, fmt="SOAP", sections=SOAP
        )
        services.note_sign(note=signed, actor=clinician)
        if index == 0:
            services.addendum_create(
                note=signed,
                actor=clinician,
                text="Late entry: patient also reported improved sleep.",
            )
        services.progress_note_create(
            author=clinician, patient_id=patient_id, fmt="DAP", sections=DAP
        )
        created += 2
    if patient_ids:
        services.psychotherapy_note_create(
            author=clinician,
            patient_id=patient_ids[0],
            text="Process notes: transference themes around authority; explore next time.",
        )
        created += 1
    return created


def seed(context: dict[str, Any]) -> None:
    cohorts = context.get("cohorts") or {}
    created = 0
    for cohort in cohorts.values():
        if Note.objects.filter(cohort=cohort).exists():
            continue
        created += _seed_cohort(cohort)
    if created:
        context.setdefault("notes", []).append(
            f"Clinical notes: {created} demo notes (signed, co-signed and drafts)."
        )
