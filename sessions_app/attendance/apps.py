from django.apps import AppConfig


class AttendanceConfig(AppConfig):
    name = "sessions_app.attendance"
    label = "attendance"
    verbose_name = "Attendance reports, adjustments and absences"

    def ready(self) -> None:
        from sessions_app.attendance.selectors import patient_attendance
        from vioip.core import contributions

        # Screening's disclosure packages hold the patient's attendance without naming
        # this app (DESIGN.md, "Layers").
        contributions.patient_attendance.register(patient_attendance)
