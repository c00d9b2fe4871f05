from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "vioip.audit"
    label = "audit"
    verbose_name = "Audit trail"
