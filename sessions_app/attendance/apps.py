from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "sessions_app.attendance"
    label = "attendance"
    verbose_name = "Attendance reports, adjustments and absences"
