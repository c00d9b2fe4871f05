from django.urls import URLPattern, URLResolver, path

from groups import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("cohorts/", apis.CohortListApi.as_view(), name="cohort-list"),
    path("cohorts/<int:cohort_id>/", apis.CohortDetailApi.as_view(), name="cohort-detail"),
    path("cohorts/<int:cohort_id>/staff/", apis.CareTeamListApi.as_view(), name="cohort-staff"),
    path(
        "cohorts/<int:cohort_id>/staff/<int:user_id>/",
        apis.CareTeamMemberApi.as_view(),
        name="cohort-staff-member",
    ),
    path(
        "cohorts/<int:cohort_id>/enrollments/",
        apis.EnrollmentListApi.as_view(),
        name="cohort-enrollments",
    ),
    path(
        "cohorts/<int:cohort_id>/enrollments/<int:enrollment_id>/discharge/",
        apis.EnrollmentDischargeApi.as_view(),
        name="cohort-enrollment-discharge",
    ),
]
