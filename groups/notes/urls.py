from django.urls import URLPattern, URLResolver, path

from groups.notes import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("notes/", apis.NoteListCreateApi.as_view(), name="note-list"),
    path("notes/overdue/", apis.OverdueNotesApi.as_view(), name="note-overdue"),
    path(
        "notes/emergency-access/",
        apis.EmergencyAccessApi.as_view(),
        name="note-emergency-access",
    ),
    path("notes/<int:note_id>/", apis.NoteDetailApi.as_view(), name="note-detail"),
    path("notes/<int:note_id>/sign/", apis.NoteSignApi.as_view(), name="note-sign"),
    path("notes/<int:note_id>/cosign/", apis.NoteCosignApi.as_view(), name="note-cosign"),
    path("notes/<int:note_id>/addenda/", apis.NoteAddendumApi.as_view(), name="note-addenda"),
    path("me/records/notes/", apis.MyRecordNotesApi.as_view(), name="my-record-notes"),
]
