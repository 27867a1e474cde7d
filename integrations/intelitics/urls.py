"""URLs of affiliate tracking: tracking links and the conversion pixel `/convert/{click_id}` (with or without a
trailing slash: clients of the reference use both)."""

from django.urls import re_path

from integrations.intelitics import views

urlpatterns = [
    re_path(r"^convert/(?P<click_id>[^/]*)/?$", views.convert, name="pixel-convert"),
    re_path(r"^track/(?P<token>[A-Za-z0-9_-]{1,32})/?$", views.track, name="tracking-link"),
]
