from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from vioip.audit.models import AuditEvent, Outcome
from vioip.core.filters import UtcIsoDateTimeFilter


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.NumberFilter(field_name="actor_id")
    patient = django_filters.NumberFilter(field_name="patient_id")
    action = django_filters.CharFilter()
    outcome = django_filters.ChoiceFilter(choices=Outcome.choices)
    object_type = django_filters.CharFilter()
    object_id = django_filters.CharFilter()
    since = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields: list[str] = []


def audit_events() -> QuerySet[AuditEvent]:
    return AuditEvent.objects.order_by("-seq")
