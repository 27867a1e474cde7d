from django.urls import path

from crm.api import events, views

urlpatterns = [
    path("events", events.EventIngestView.as_view(), name="event-ingest"),
    path("players", views.PlayerListView.as_view(), name="player-list"),
    path("players/<str:ext_brand_id>/<str:user_ext_id>", views.PlayerDetailView.as_view(), name="player-detail"),
]
