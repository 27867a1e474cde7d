from django.urls import include, path

from crm.api import bonuses, events, rules, segments, views

urlpatterns = [
    path("", include("crm.api.affiliates_urls")),
    path("bonuses", bonuses.BonusListCreateView.as_view(), name="bonus-list"),
    path("bonuses/<int:bonus_id>", bonuses.BonusDetailView.as_view(), name="bonus-detail"),
    path("bonus-api/<str:label_key>/redeem", bonuses.RedeemCallbackView.as_view(), name="bonus-redeem-callback"),
    path("events", events.EventIngestView.as_view(), name="event-ingest"),
    path("players", views.PlayerListView.as_view(), name="player-list"),
    path("players/<str:ext_brand_id>/<str:user_ext_id>", views.PlayerDetailView.as_view(), name="player-detail"),
    path("rules", rules.RuleListView.as_view(), name="rule-list"),
    path("rules/<int:rule_id>", rules.RuleDetailView.as_view(), name="rule-detail"),
    path("segments", segments.SegmentListView.as_view(), name="segment-list"),
    path("segments/<int:segment_id>", segments.SegmentDetailView.as_view(), name="segment-detail"),
    path("segments/<int:segment_id>/members", segments.SegmentMembersView.as_view(), name="segment-members"),
    path(
        "segments/<int:segment_id>/members/<str:ext_brand_id>/<str:user_ext_id>",
        segments.SegmentMembershipView.as_view(),
        name="segment-membership",
    ),
]
