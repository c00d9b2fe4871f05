from django.urls import URLPattern, URLResolver, path

from screening import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("screening/analytes/", apis.AnalyteTableApi.as_view(), name="screening-analytes"),
    path("screening/tests/", apis.TestListCreateApi.as_view(), name="screening-tests"),
    path("screening/tests/<int:test_id>/", apis.TestDetailApi.as_view(), name="screening-test"),
    path(
        "screening/tests/<int:test_id>/collect/",
        apis.TestCollectApi.as_view(),
        name="screening-test-collect",
    ),
    path(
        "screening/tests/<int:test_id>/results/",
        apis.TestResultsApi.as_view(),
        name="screening-test-results",
    ),
    path(
        "screening/tests/<int:test_id>/review/",
        apis.TestReviewApi.as_view(),
        name="screening-test-review",
    ),
    path(
        "screening/tests/<int:test_id>/amend/",
        apis.TestAmendApi.as_view(),
        name="screening-test-amend",
    ),
    path(
        "screening/tests/<int:test_id>/fhir/",
        apis.TestFhirApi.as_view(),
        name="screening-test-fhir",
    ),
    path("screening/draws/", apis.DrawListCreateApi.as_view(), name="screening-draws"),
    path("screening/draws/<int:draw_id>/", apis.DrawDetailApi.as_view(), name="screening-draw"),
    path(
        "screening/draw-schedule/",
        apis.DrawScheduleApi.as_view(),
        name="screening-draw-schedule",
    ),
    path(
        "screening/medications/",
        apis.MedicationListCreateApi.as_view(),
        name="screening-medications",
    ),
    path("screening/compliance/", apis.ComplianceApi.as_view(), name="screening-compliance"),
    path("screening/consents/", apis.ConsentListCreateApi.as_view(), name="screening-consents"),
    path(
        "screening/consents/<int:consent_id>/",
        apis.ConsentDetailApi.as_view(),
        name="screening-consent",
    ),
    path(
        "screening/consents/<int:consent_id>/revoke/",
        apis.ConsentRevokeApi.as_view(),
        name="screening-consent-revoke",
    ),
    path(
        "screening/consents/<int:consent_id>/fhir/",
        apis.ConsentFhirApi.as_view(),
        name="screening-consent-fhir",
    ),
    path(
        "screening/disclosures/",
        apis.DisclosureListCreateApi.as_view(),
        name="screening-disclosures",
    ),
    path(
        "screening/disclosures/<int:disclosure_id>/",
        apis.DisclosureDetailApi.as_view(),
        name="screening-disclosure",
    ),
    path(
        "me/records/screening/",
        apis.MyScreeningRecordsApi.as_view(),
        name="me-records-screening",
    ),
    path(
        "me/records/disclosures/",
        apis.MyDisclosuresApi.as_view(),
        name="me-records-disclosures",
    ),
]
