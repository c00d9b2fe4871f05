from django.urls import URLPattern, URLResolver, path

from sessions_app.attendance import apis

# Explicit, deeper paths than groups' and sessions_app's own cohort/session routes, so
# they never shadow one another whatever the include order.
urlpatterns: list[URLPattern | URLResolver] = [
    path(
        "cohorts/<int:cohort_id>/attendance/",
        apis.CohortAttendanceApi.as_view(),
        name="cohort-attendance",
    ),
    path(
        "cohorts/<int:cohort_id>/attendance/chart/",
        apis.CohortAttendanceChartApi.as_view(),
        name="cohort-attendance-chart",
    ),
    path(
        "cohorts/<int:cohort_id>/billing-days/",
        apis.BillingDaysApi.as_view(),
        name="cohort-billing-days",
    ),
    path(
        "cohorts/<int:cohort_id>/enrollments/<int:enrollment_id>/summary/",
        apis.DischargeSummaryApi.as_view(),
        name="cohort-enrollment-summary",
    ),
    path(
        "sessions/<int:session_id>/attendance/adjustments/",
        apis.AdjustmentListApi.as_view(),
        name="session-attendance-adjustments",
    ),
    path("sessions/<int:session_id>/makeups/", apis.MakeupApi.as_view(), name="session-makeups"),
    path("me/attendance/", apis.MyAttendanceApi.as_view(), name="me-attendance"),
    path("me/absences/", apis.MyAbsenceListApi.as_view(), name="me-absences"),
    path("me/absences/<int:absence_id>/", apis.MyAbsenceDetailApi.as_view(), name="me-absence"),
]
