from django.urls import URLPattern, URLResolver, path

from screening.consents import apis as consents
from screening.disclosures import apis as disclosures
from screening.draws import apis as draws
from screening.drug_tests import apis as drug_tests

urlpatterns: list[URLPattern | URLResolver] = [
    path("screening/analytes/", drug_tests.AnalyteTableApi.as_view(), name="screening-analytes"),
    path("screening/tests/", drug_tests.TestListCreateApi.as_view(), name="screening-tests"),
    path(
        "screening/tests/<int:test_id>/", drug_tests.TestDetailApi.as_view(), name="screening-test"
    ),
    path(
        "screening/tests/<int:test_id>/collect/",
        drug_tests.TestCollectApi.as_view(),
        name="screening-test-collect",
    ),
    path(
        "screening/tests/<int:test_id>/results/",
        drug_tests.TestResultsApi.as_view(),
        name="screening-test-results",
    ),
    path(
        "screening/tests/<int:test_id>/review/",
        drug_tests.TestReviewApi.as_view(),
        name="screening-test-review",
    ),
    path(
        "screening/tests/<int:test_id>/amend/",
        drug_tests.TestAmendApi.as_view(),
        name="screening-test-amend",
    ),
    path(
        "screening/tests/<int:test_id>/fhir/",
        drug_tests.TestFhirApi.as_view(),
        name="screening-test-fhir",
    ),
    path("screening/draws/", draws.DrawListCreateApi.as_view(), name="screening-draws"),
    path("screening/draws/<int:draw_id>/", draws.DrawDetailApi.as_view(), name="screening-draw"),
    path(
        "screening/draw-schedule/",
        draws.DrawScheduleApi.as_view(),
        name="screening-draw-schedule",
    ),
    path(
        "screening/medications/",
        drug_tests.MedicationListCreateApi.as_view(),
        name="screening-medications",
    ),
    path("screening/compliance/", draws.ComplianceApi.as_view(), name="screening-compliance"),
    path("screening/consents/", consents.ConsentListCreateApi.as_view(), name="screening-consents"),
    path(
        "screening/consents/<int:consent_id>/",
        consents.ConsentDetailApi.as_view(),
        name="screening-consent",
    ),
    path(
        "screening/consents/<int:consent_id>/revoke/",
        consents.ConsentRevokeApi.as_view(),
        name="screening-consent-revoke",
    ),
    path(
        "screening/consents/<int:consent_id>/fhir/",
        consents.ConsentFhirApi.as_view(),
        name="screening-consent-fhir",
    ),
    path(
        "screening/disclosures/",
        disclosures.DisclosureListCreateApi.as_view(),
        name="screening-disclosures",
    ),
    path(
        "screening/disclosures/<int:disclosure_id>/",
        disclosures.DisclosureDetailApi.as_view(),
        name="screening-disclosure",
    ),
    path(
        "me/records/screening/",
        drug_tests.MyScreeningRecordsApi.as_view(),
        name="me-records-screening",
    ),
    path(
        "me/records/disclosures/",
        disclosures.MyDisclosuresApi.as_view(),
        name="me-records-disclosures",
    ),
]
