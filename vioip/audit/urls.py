from django.urls import path

from vioip.audit import apis

urlpatterns = [
    path("audit/", apis.AuditEventListApi.as_view(), name="audit-list"),
    path("audit/verify/", apis.AuditVerifyApi.as_view(), name="audit-verify"),
]
