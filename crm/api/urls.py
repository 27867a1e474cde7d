from django.urls import path

from crm.api import bonuses, events, views

urlpatterns = [
    path("bonuses", bonuses.BonusListCreateView.as_view(), name="bonus-list"),
    path("bonuses/<int:bonus_id>", bonuses.BonusDetailView.as_view(), name="bonus-detail"),
    path("bonus-api/<str:label_key>/redeem", bonuses.RedeemCallbackView.as_view(), name="bonus-redeem-callback"),
    path("events", events.EventIngestView.as_view(), name="event-ingest"),
    path("players", views.PlayerListView.as_view(), name="player-list"),
    path("players/<str:ext_brand_id>/<str:user_ext_id>", views.PlayerDetailView.as_view(), name="player-detail"),
]
