import datetime as dt

import pytest
from django.utils import timezone

from sessions_app.models import Session
from tests.factories import EnrollmentFactory, SessionFactory, UserFactory
from vioip.accounts.models import Role, User

pytestmark = pytest.mark.django_db

SOON = timezone.now().replace(microsecond=0) + dt.timedelta(days=3)


def iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def classmate(cast):
    """A second patient in the same cohort."""
    patient = UserFactory(role=Role.PATIENT, first_name="Jordan", last_name="Kim")
    EnrollmentFactory(cohort=cast.cohort, patient=patient)
    return patient


def create(client, **body):
    return client.post("/api/sessions/", body, format="json")


def test_staff_schedule_an_individual_session_only_its_patient_sees(cast, client_for, classmate):
    response = create(
        client_for(cast.clinician),
        cohort=cast.cohort.pk,
        kind="individual",
        starts_at=iso(SOON),
        ends_at=iso(SOON + dt.timedelta(hours=1)),
        patient=cast.patient.pk,
    )
    assert response.status_code == 201, response.json()
    session = response.json()
    assert session["title"] == "Individual therapy"
    assert session["waiting_room"] is True
    url = f"/api/sessions/{session['id']}/"
    assert client_for(cast.patient).get(url).status_code == 200
    assert client_for(classmate).get(url).status_code == 404
    classmate_ids = [s["id"] for s in client_for(classmate).get("/api/sessions/").json()["results"]]
    assert session["id"] not in classmate_ids
    mine = client_for(classmate).get("/api/me/sessions/").json()["results"]
    assert session["id"] not in [s["id"] for s in mine]


def test_a_session_takes_the_cohorts_waiting_room_setting_unless_given(cast, client_for):
    cast.cohort.waiting_room = False
    cast.cohort.save(update_fields=["waiting_room"])
    body = {
        "cohort": cast.cohort.pk,
        "kind": "group_therapy",
        "starts_at": iso(SOON),
        "ends_at": iso(SOON + dt.timedelta(hours=3)),
    }
    client = client_for(cast.facilitator)
    assert create(client, **body).json()["waiting_room"] is False
    assert create(client, **body, waiting_room=True).json()["waiting_room"] is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ends_at": iso(SOON - dt.timedelta(minutes=1))}, "ends_at"),
        ({"ends_at": iso(SOON)}, "ends_at"),
        ({"ends_at": iso(SOON + dt.timedelta(hours=13))}, "ends_at"),
        ({"kind": "individual"}, "patient"),
        ({"kind": "family", "patient": "other_patient"}, "patient"),
        ({"kind": "group_therapy", "patient": "patient"}, "patient"),
        ({"kind": "book_club"}, "kind"),
        ({"starts_at": "next tuesday"}, "starts_at"),
        ({"cohort": "other_cohort"}, "cohort"),
    ],
)
def test_bad_session_input_is_refused_and_creates_nothing(cast, client_for, change, field):
    body = {
        "cohort": cast.cohort.pk,
        "kind": "workshop",
        "starts_at": iso(SOON),
        "ends_at": iso(SOON + dt.timedelta(hours=1)),
    } | change
    for key in ("patient", "cohort"):
        if isinstance(body.get(key), str) and hasattr(cast, body[key]):
            body[key] = getattr(cast, body[key]).pk
    before = Session.objects.count()
    response = create(client_for(cast.facilitator), **body)
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert Session.objects.count() == before


def test_staff_move_a_session_but_not_its_end_before_its_start(cast, client_for):
    session = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    client = client_for(cast.facilitator)
    url = f"/api/sessions/{session.pk}/"
    bad = client.patch(url, {"ends_at": iso(SOON - dt.timedelta(hours=1))}, format="json")
    assert bad.status_code == 400
    assert "ends_at" in bad.json()["fields"]
    later = SOON + dt.timedelta(days=1)
    moved = client.patch(
        url,
        {"starts_at": iso(later), "ends_at": iso(later + dt.timedelta(hours=2)), "title": "DBT"},
        format="json",
    )
    assert moved.status_code == 200
    session.refresh_from_db()
    assert (session.starts_at, session.title) == (later, "DBT")


def test_a_cancelled_session_is_kept_with_its_reason_and_cannot_be_changed(cast, client_for):
    session = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    client = client_for(cast.clinician)
    assert client.post(f"/api/sessions/{session.pk}/cancel/", {}, format="json").status_code == 400
    response = client.post(
        f"/api/sessions/{session.pk}/cancel/", {"reason": "Snow storm"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == "Snow storm"
    again = client.post(f"/api/sessions/{session.pk}/cancel/", {"reason": "x"}, format="json")
    assert again.status_code == 409
    patch = client.patch(f"/api/sessions/{session.pk}/", {"title": "Back on"}, format="json")
    assert patch.status_code == 409


def test_a_live_session_cannot_be_moved(cast, client_for, live_session):
    live_session.status = "live"
    live_session.save(update_fields=["status"])
    later = live_session.starts_at + dt.timedelta(hours=1)
    response = client_for(cast.facilitator).patch(
        f"/api/sessions/{live_session.pk}/", {"starts_at": iso(later)}, format="json"
    )
    assert response.status_code == 409


def test_session_list_filters_by_cohort_kind_status_and_dates(cast, client_for):
    day = dt.datetime(2027, 5, 10, 22, 0, tzinfo=dt.UTC)
    group = SessionFactory(cohort=cast.cohort, starts_at=day)
    workshop = SessionFactory(
        cohort=cast.cohort, kind="workshop", starts_at=day + dt.timedelta(days=1)
    )
    cancelled = SessionFactory(
        cohort=cast.cohort, starts_at=day + dt.timedelta(days=2), status="cancelled"
    )
    other = SessionFactory(cohort=cast.other_cohort, starts_at=day)
    client = client_for(cast.admin)

    def ids(query):
        response = client.get(f"/api/sessions/?{query}")
        assert response.status_code == 200, response.json()
        return {s["id"] for s in response.json()["results"]}

    assert ids(f"cohort={cast.other_cohort.pk}") == {other.pk}
    assert ids("kind=workshop") == {workshop.pk}
    assert ids("status=cancelled") == {cancelled.pk}
    assert ids("from=2027-05-11&to=2027-05-11") == {workshop.pk}
    assert ids("from=2027-05-10&to=2027-05-10") == {group.pk, other.pk}
    assert ids("from=2027-05-10T23:00:00Z") == {workshop.pk, cancelled.pk}


@pytest.mark.parametrize("query", ["from=tomorrow", "to=2027-13-01", "kind=party", "status=done"])
def test_bad_session_filters_are_a_400(cast, client_for, query):
    response = client_for(cast.admin).get(f"/api/sessions/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["fields"]


def test_my_sessions_is_the_callers_own_schedule(cast, client_for, classmate):
    group = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    mine = SessionFactory(
        cohort=cast.cohort, kind="individual", patient=cast.patient, starts_at=SOON
    )
    theirs = SessionFactory(cohort=cast.cohort, kind="family", patient=classmate, starts_at=SOON)
    elsewhere = SessionFactory(cohort=cast.other_cohort, starts_at=SOON)
    past = SessionFactory(cohort=cast.cohort, starts_at=SOON - dt.timedelta(days=30))

    def ids(user, query=""):
        response = client_for(user).get(f"/api/me/sessions/{query}")
        assert response.status_code == 200
        return {s["id"] for s in response.json()["results"]}

    assert ids(cast.patient) == {group.pk, mine.pk, past.pk}
    assert ids(cast.patient, f"?from={SOON.date().isoformat()}") == {group.pk, mine.pk}
    assert ids(cast.facilitator) == {group.pk, mine.pk, theirs.pk, past.pk}
    assert ids(cast.other_clinician) == {elsewhere.pk}
    assert ids(cast.admin) == set()


def test_a_discharged_patient_no_longer_sees_the_cohorts_sessions(cast, client_for):
    session = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    cast.patient.enrollments.update(status="discharged", discharged_on=timezone.localdate())
    assert client_for(cast.patient).get(f"/api/sessions/{session.pk}/").status_code == 404
    assert client_for(cast.patient).get("/api/me/sessions/").json()["count"] == 0


@pytest.mark.parametrize("url", ["/api/sessions/?page_size=100", "/api/me/sessions/?page_size=100"])
@pytest.mark.parametrize("who", ["patient", "facilitator"])
def test_session_lists_make_a_bounded_number_of_queries(
    cast, client_for, django_assert_max_num_queries, url, who
):
    client = client_for(getattr(cast, who))
    for offset in range(40):
        SessionFactory(cohort=cast.cohort, starts_at=SOON + dt.timedelta(days=offset))
        SessionFactory(
            cohort=cast.cohort,
            kind="individual",
            patient=cast.patient,
            starts_at=SOON + dt.timedelta(days=offset, hours=4),
        )
    # The page (and its count when more rows follow), the caller's role and the audit's
    # constant cost (the chain head made and locked, one insert of every patient's event,
    # the head moved, their savepoints): never per row.
    with django_assert_max_num_queries(15):
        response = client.get(url)
    assert response.json()["count"] == 80


@pytest.mark.parametrize(
    "change", [{"kind": "workshop"}, {"status": "ended"}, {"patient": 1}, {"cohort": 1}]
)
def test_fixed_session_fields_cannot_be_patched(cast, client_for, change):
    session = SessionFactory(cohort=cast.cohort, starts_at=SOON)
    response = client_for(cast.admin).patch(
        f"/api/sessions/{session.pk}/", change | {"title": "Renamed"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["fields"]) == set(change)
    session.refresh_from_db()
    assert (session.title, session.kind, session.status) == (
        "Group therapy",
        "group_therapy",
        "scheduled",
    )


@pytest.mark.parametrize(
    "query", ["to=9999-12-31", "from=1204-05-29T11:56:08%2B19:11", "to=0001-01-01T00:00:00Z"]
)
def test_session_filters_at_the_edges_of_the_calendar_are_answered(cast, client_for, query):
    response = client_for(cast.admin).get(f"/api/sessions/?{query}")
    assert response.status_code == 200, response.json()


def test_a_session_filter_moment_that_does_not_exist_in_utc_is_a_400(cast, client_for):
    response = client_for(cast.admin).get("/api/sessions/?to=9999-12-31T23:00:00-05:00")
    assert response.status_code == 400
    assert "to" in response.json()["fields"]


def test_a_schedule_that_fits_on_its_page_costs_the_token_the_role_the_cohorts_and_the_page(
    cast, client_for, django_assert_max_num_queries
):
    for offset in range(3):
        SessionFactory(cohort=cast.cohort, starts_at=SOON + dt.timedelta(days=offset))
    client = client_for(cast.patient)
    # The token with its user, the caller's role as the database holds it now, the
    # caller's cohorts (each a query compiled once), the page: no count when the page
    # shows every session there is.
    with django_assert_max_num_queries(4):
        response = client.get("/api/me/sessions/")
    assert response.json()["count"] == 3


def test_pages_of_the_schedule_count_every_session_whichever_page_is_asked(cast, client_for):
    for offset in range(5):
        SessionFactory(cohort=cast.cohort, starts_at=SOON + dt.timedelta(days=offset))
    client = client_for(cast.patient)

    def page(query):
        response = client.get(f"/api/me/sessions/?{query}")
        assert response.status_code == 200, response.json()
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}
        return body["count"], bool(body["next"]), bool(body["previous"]), len(body["results"])

    assert page("page_size=10") == (5, False, False, 5)
    assert page("page_size=5") == (5, False, False, 5)
    assert page("page_size=2") == (5, True, False, 2)
    assert page("page_size=2&page=1") == (5, True, False, 2)
    assert page("page_size=2&page=2") == (5, True, True, 2)
    assert page("page_size=2&page=3") == (5, False, True, 1)
    assert page("page_size=2&page=last") == (5, False, True, 1)
    assert page("page_size=4&page=2") == (5, False, True, 1)
    second = client.get("/api/me/sessions/?page_size=2&page=2").json()
    assert second["next"].endswith("page=3&page_size=2")
    assert second["previous"].endswith("page_size=2")


@pytest.mark.parametrize("query", ["page=2", "page_size=5&page=2", "page=0", "page=one"])
def test_a_page_past_the_schedule_or_no_page_at_all_is_a_404(cast, client_for, query):
    for offset in range(5):
        SessionFactory(cohort=cast.cohort, starts_at=SOON + dt.timedelta(days=offset))
    response = client_for(cast.patient).get(f"/api/me/sessions/?{query}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Invalid page."}


def test_the_schedule_follows_a_role_changed_between_two_requests_of_one_token(cast, client_for):
    SessionFactory(cohort=cast.cohort, starts_at=SOON)
    client = client_for(cast.patient)
    assert client.get("/api/me/sessions/").json()["count"] == 1

    # A facilitator with no place on any care team: no cohort's schedule, not even the one
    # the same token saw as a patient a moment ago.
    User.objects.filter(pk=cast.patient.pk).update(role=Role.FACILITATOR)
    assert client.get("/api/me/sessions/").json()["count"] == 0
