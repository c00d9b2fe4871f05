from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from groups.models import Enrollment
from screening.models import Consent, ConsentRevocation, Disclosure
from screening.part2 import NOTICE_TEXT
from tests.screening.conftest import NEGATIVE_PANEL, events

pytestmark = pytest.mark.django_db

NOTICE = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


def consent_body(cast: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "patient": cast.patient.pk,
        "information": ["screening_results", "enrollment_status"],
        "recipient": {
            "name": "Officer Dana Reyes",
            "organization": "County Probation Department",
            "address": "1 Court Plaza, Springfield",
        },
        "purpose": "Compliance with conditions of probation",
        "expires_on": (timezone.localdate() + dt.timedelta(days=90)).isoformat(),
        "signed_at": (timezone.now() - dt.timedelta(days=1)).isoformat(),
        "signature_method": "electronic",
        **overrides,
    }


@pytest.fixture
def consent(clin: Any, cast: Any) -> dict[str, Any]:
    response = clin.post("/api/screening/consents/", consent_body(cast), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _period() -> dict[str, str]:
    today = timezone.localdate()
    return {"from": (today - dt.timedelta(days=30)).isoformat(), "to": today.isoformat()}


def test_the_shipped_notice_is_the_2024_short_form_verbatim() -> None:
    assert NOTICE_TEXT == NOTICE


def test_clinician_records_a_consent_and_the_patient_lists_it(
    consent: dict[str, Any], cast: Any, client_for: Any
) -> None:
    assert consent["state"] == "active"
    assert consent["recipient"]["organization"] == "County Probation Department"
    mine = client_for(cast.patient).get("/api/screening/consents/").json()["results"]
    assert [c["id"] for c in mine] == [consent["id"]]
    assert client_for(cast.other_patient).get("/api/screening/consents/").json()["results"] == []
    reads = events(action="read", object_type="consent")
    assert reads[-1].patient_id == cast.patient.pk


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"recipient": {"name": ""}}, "recipient"),
        ({"purpose": ""}, "purpose"),
        ({"information": []}, "information"),
        ({"information": ["psychotherapy_notes"]}, "information"),
        ({"expires_on": None}, "expires_on"),
    ],
)
def test_incomplete_consent_is_refused_and_nothing_is_stored(
    clin: Any, cast: Any, change: dict[str, Any], field: str
) -> None:
    body = consent_body(cast, **change)
    if change.get("recipient") == {"name": ""}:
        body["recipient"] = {"name": ""}
    response = clin.post("/api/screening/consents/", body, format="json")
    assert response.status_code == 400
    # A nested field is keyed by its dotted path (recipient.name, information.0).
    assert field in {key.split(".")[0] for key in response.json()["fields"]}
    assert not Consent.objects.exists()


def test_consent_without_recipient_is_refused(clin: Any, cast: Any) -> None:
    body = consent_body(cast)
    del body["recipient"]
    response = clin.post("/api/screening/consents/", body, format="json")
    assert response.status_code == 400
    assert "recipient" in response.json()["fields"]


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "auditor", "other_clinician"])
def test_only_a_care_team_clinician_records_consents(role: str, cast: Any, client_for: Any) -> None:
    response = client_for(getattr(cast, role)).post(
        "/api/screening/consents/", consent_body(cast), format="json"
    )
    assert response.status_code in (403, 404)
    assert not Consent.objects.exists()


def test_disclosure_package_has_the_notice_at_the_top_and_only_what_is_covered(
    clin: Any, cast: Any, consent: dict[str, Any], resulted_test: Any
) -> None:
    test = resulted_test(NEGATIVE_PANEL)
    clin.post(f"/api/screening/tests/{test['id']}/review/", {"comment": "Never disclosed"})
    response = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    )
    assert response.status_code == 201, response.json()
    package = response.json()
    assert next(iter(package)) == "notice"
    assert package["notice"]["text"] == NOTICE
    assert package["consent_scope"]["purpose"] == "Compliance with conditions of probation"
    assert package["consent_scope"]["information"] == ["enrollment_status", "screening_results"]
    assert set(package["sections"]) == {"screening_results", "enrollment_status"}
    assert [t["test"] for t in package["sections"]["screening_results"]] == [test["id"]]
    assert "Never disclosed" not in response.content.decode()
    stored = Disclosure.objects.get()
    assert stored.disclosed_by == cast.clinician
    assert stored.consent_id == consent["id"]
    assert stored.notice_version == "2024"
    assert events(action="disclose")[-1].patient_id == cast.patient.pk


def test_disclosure_covers_only_the_period_asked(
    clin: Any, cast: Any, consent: dict[str, Any], new_test: Any
) -> None:
    old = new_test(collected_at=(timezone.now() - dt.timedelta(days=40)).isoformat())
    recent = new_test()
    for t in (old, recent):
        clin.post(
            f"/api/screening/tests/{t['id']}/results/", {"results": NEGATIVE_PANEL}, format="json"
        )
        clin.post(f"/api/screening/tests/{t['id']}/review/", {"comment": ""}, format="json")
    package = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    ).json()
    assert [t["test"] for t in package["sections"]["screening_results"]] == [recent["id"]]


def test_information_the_consent_does_not_cover_is_refused(
    clin: Any, consent: dict[str, Any], cast: Any
) -> None:
    response = clin.post(
        "/api/screening/disclosures/",
        {"consent": consent["id"], "information": ["attendance"], **_period()},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "not_covered"
    assert not Disclosure.objects.exists()
    refused = events(action="disclosure_refused")
    assert refused[-1].patient_id == cast.patient.pk
    assert refused[-1].outcome == "denied"


def test_disclosure_refused_after_revocation(
    clin: Any, consent: dict[str, Any], cast: Any, client_for: Any
) -> None:
    response = clin.post(f"/api/screening/consents/{consent['id']}/revoke/", {}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    assert response.json()["revocation"]["recorded_by"] == cast.clinician.pk
    again = clin.post(f"/api/screening/consents/{consent['id']}/revoke/", {}, format="json")
    assert again.status_code == 409
    response = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "consent_revoked"
    assert not Disclosure.objects.exists()
    assert events(action="disclosure_refused")[-1].detail == {"reason": "consent_revoked"}
    assert ConsentRevocation.objects.count() == 1


def test_revocation_is_append_only(clin: Any, consent: dict[str, Any]) -> None:
    from screening.models import AppendOnlyError

    clin.post(f"/api/screening/consents/{consent['id']}/revoke/", {}, format="json")
    revocation = ConsentRevocation.objects.get()
    with pytest.raises(AppendOnlyError):
        revocation.save()
    with pytest.raises(AppendOnlyError):
        revocation.delete()


def test_disclosure_refused_after_expiry(clin: Any, cast: Any, client_for: Any) -> None:
    expires = timezone.localdate() + dt.timedelta(days=5)
    consent = clin.post(
        "/api/screening/consents/",
        consent_body(cast, expires_on=expires.isoformat()),
        format="json",
    ).json()
    with time_machine.travel(timezone.now() + dt.timedelta(days=7), tick=False):
        clin = client_for(cast.clinician)
        response = clin.post(
            "/api/screening/disclosures/",
            {"consent": consent["id"], **_period()},
            format="json",
        )
    assert response.status_code == 409
    assert response.json()["code"] == "consent_expired"
    assert not Disclosure.objects.exists()


def test_consent_until_end_of_treatment_expires_after_discharge(
    clin: Any, cast: Any, client_for: Any
) -> None:
    body = consent_body(cast, expires_on=None, expires_at_end_of_treatment=True)
    consent = clin.post("/api/screening/consents/", body, format="json").json()
    assert consent["state"] == "active"
    assert (
        clin.post(
            "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
        ).status_code
        == 201
    )
    Enrollment.objects.filter(patient=cast.patient).update(
        status="discharged",
        discharged_on=timezone.localdate() - dt.timedelta(days=1),
        discharge_reason="completed",
    )
    # The consent reads as expired; the former care team discloses nothing new anyway.
    assert clin.get(f"/api/screening/consents/{consent['id']}/").json()["state"] == "expired"
    response = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    )
    assert response.status_code == 404
    assert Disclosure.objects.count() == 1


def test_period_running_past_expiry_is_refused(clin: Any, cast: Any) -> None:
    expires = timezone.localdate() + dt.timedelta(days=2)
    consent = clin.post(
        "/api/screening/consents/",
        consent_body(cast, expires_on=expires.isoformat()),
        format="json",
    ).json()
    response = clin.post(
        "/api/screening/disclosures/",
        {
            "consent": consent["id"],
            "from": timezone.localdate().isoformat(),
            "to": (expires + dt.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 409


def test_bad_period_is_a_field_error(clin: Any, consent: dict[str, Any]) -> None:
    today = timezone.localdate()
    response = clin.post(
        "/api/screening/disclosures/",
        {
            "consent": consent["id"],
            "from": today.isoformat(),
            "to": (today - dt.timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert "to" in response.json()["fields"]


def test_notice_is_verbatim_in_every_package(
    clin: Any, cast: Any, consent: dict[str, Any], client_for: Any
) -> None:
    for info in (["screening_results"], ["enrollment_status"], None):
        body: dict[str, Any] = {"consent": consent["id"], **_period()}
        if info:
            body["information"] = info
        package = clin.post("/api/screening/disclosures/", body, format="json").json()
        assert package["notice"]["text"] == NOTICE
        stored = clin.get(f"/api/screening/disclosures/{package['disclosure']}/").json()
        assert stored["package"]["notice"]["text"] == NOTICE
    assert Disclosure.objects.count() == 3


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "auditor", "other_clinician"])
def test_only_a_care_team_clinician_discloses(
    role: str, cast: Any, consent: dict[str, Any], client_for: Any
) -> None:
    response = client_for(getattr(cast, role)).post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    )
    assert response.status_code == 404
    assert not Disclosure.objects.exists()


@pytest.mark.parametrize("role", ["facilitator", "patient", "admin", "other_clinician"])
def test_only_a_care_team_clinician_revokes_on_record(
    role: str, cast: Any, consent: dict[str, Any], client_for: Any
) -> None:
    response = client_for(getattr(cast, role)).post(
        f"/api/screening/consents/{consent['id']}/revoke/", {}, format="json"
    )
    assert response.status_code == 404
    assert not ConsentRevocation.objects.exists()
    assert events(action="denied", object_type="consent")[-1].patient_id == cast.patient.pk


def test_accounting_of_disclosures_for_the_patient_and_the_clinician(
    clin: Any, cast: Any, consent: dict[str, Any], client_for: Any
) -> None:
    package = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    ).json()
    mine = client_for(cast.patient).get("/api/me/records/disclosures/")
    assert mine.status_code == 200
    rows = mine.json()["results"]
    assert [r["id"] for r in rows] == [package["disclosure"]]
    assert rows[0]["recipient"]["name"] == "Officer Dana Reyes"
    assert rows[0]["consent"] == consent["id"]
    assert (
        client_for(cast.other_patient).get("/api/me/records/disclosures/").json()["results"] == []
    )
    per_patient = clin.get(f"/api/screening/disclosures/?patient={cast.patient.pk}").json()
    assert [r["id"] for r in per_patient["results"]] == [package["disclosure"]]
    assert events(action="read", object_type="disclosure")[-1].patient_id == cast.patient.pk
    for role in ("facilitator", "admin", "auditor"):
        client = client_for(getattr(cast, role))
        assert client.get("/api/screening/disclosures/").status_code == 403
        named = client.get(f"/api/screening/disclosures/?patient={cast.patient.pk}")
        assert named.status_code == 404
        denial = events(action="denied", object_type="disclosure")[-1]
        assert (denial.actor_id, denial.patient_id) == (getattr(cast, role).pk, cast.patient.pk)
    assert (
        client_for(cast.other_clinician)
        .get(f"/api/screening/disclosures/{package['disclosure']}/")
        .status_code
        == 404
    )


def test_attendance_and_treatment_summary_sections_come_from_the_attendance_ledger(
    clin: Any, cast: Any
) -> None:
    from sessions_app.rooms.models import AttendanceSegment
    from tests.factories import SessionFactory

    now = timezone.now()
    attended = SessionFactory(
        cohort=cast.cohort,
        starts_at=now - dt.timedelta(days=2),
        ends_at=now - dt.timedelta(days=2) + dt.timedelta(hours=3),
        status="ended",
        title="Relapse prevention",
    )
    SessionFactory(
        cohort=cast.cohort,
        starts_at=now - dt.timedelta(days=1),
        ends_at=now - dt.timedelta(days=1) + dt.timedelta(hours=3),
        status="ended",
    )
    AttendanceSegment.objects.create(
        session=attended,
        user=cast.patient,
        joined_at=attended.starts_at,
        left_at=attended.ends_at,
    )
    consent = clin.post(
        "/api/screening/consents/",
        consent_body(
            cast,
            information=["attendance", "treatment_summary"],
            signed_at=(now - dt.timedelta(days=3)).isoformat(),
        ),
        format="json",
    ).json()
    package = clin.post(
        "/api/screening/disclosures/", {"consent": consent["id"], **_period()}, format="json"
    ).json()
    assert set(package["sections"]) == {"attendance", "treatment_summary"}
    sessions = package["sections"]["attendance"][0]["sessions"]
    assert sorted(s["status"] for s in sessions) == ["absent", "attended"]
    summary = package["sections"]["treatment_summary"][0]
    assert summary["sessions_attended"] == 1 and summary["sessions_missed"] == 1
    assert summary["hours_attended"] == 3.0
    assert "Relapse prevention" not in str(package)
    assert "screening_results" not in package["sections"]


@pytest.mark.parametrize("role", ["facilitator", "admin", "auditor"])
def test_roles_without_clinical_access_cannot_read_consents(
    role: str, cast: Any, consent: dict[str, Any], client_for: Any
) -> None:
    client = client_for(getattr(cast, role))
    assert client.get("/api/screening/consents/").status_code == 403
    assert client.get(f"/api/screening/consents/{consent['id']}/").status_code == 404
    assert client.get(f"/api/screening/consents/{consent['id']}/fhir/").status_code == 404
    assert events(action="denied", object_type="consent")[-1].patient_id == cast.patient.pk


@pytest.mark.parametrize("path", ["disclosures", "consents", "tests"])
def test_refusal_naming_a_patient_that_does_not_exist_is_audited_without_one(
    cast: Any, client_for: Any, path: str
) -> None:
    # The audit event's patient is a foreign key: naming an id nobody has would fail
    # the refusal's write when it commits, and the refusal would go unrecorded.
    response = client_for(cast.admin).get(f"/api/screening/{path}/?patient=987654")

    assert response.status_code == 404
    denial = events(action="denied")[-1]
    assert denial.actor_id == cast.admin.pk
    assert denial.patient_id is None


def test_refusal_naming_a_real_patient_is_audited_with_them(cast: Any, client_for: Any) -> None:
    response = client_for(cast.admin).get(f"/api/screening/tests/?patient={cast.patient.pk}")

    assert response.status_code == 404
    assert events(action="denied")[-1].patient_id == cast.patient.pk


@pytest.mark.parametrize(
    "path", ["/api/screening/tests/", "/api/screening/consents/", "/api/screening/draws/"]
)
def test_options_describes_a_screening_endpoint(cast: Any, client_for: Any, path: str) -> None:
    response = client_for(cast.clinician).options(path)

    assert response.status_code == 200
    assert response.json()["name"]
