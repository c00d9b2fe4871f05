from django.urls import URLPattern, path

from web import views

# The client's own addresses: each serves the same page, which routes in the browser, so a
# reload or a shared link lands on the right screen.
urlpatterns: list[URLPattern] = [
    path("", views.index, name="web-home"),
    path("sign-in", views.index, name="web-sign-in"),
    path("security", views.index, name="web-security"),
    path("records", views.index, name="web-records"),
    path("sessions/<int:session_id>", views.index, name="web-room"),
]
