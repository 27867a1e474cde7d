from django.urls import include, path

from crm.api import bonuses, events, financial, rules, segments, tickets, usage, views

urlpatterns = [
    path("", include("crm.api.affiliates_urls")),
    path("bonuses", bonuses.BonusListCreateView.as_view(), name="bonus-list"),
    path("customer-accounts", usage.CustomerAccountListView.as_view(), name="customer-account-list"),
    path(
        "customer-accounts/<str:account_id>", usage.CustomerAccountDetailView.as_view(), name="customer-account-detail"
    ),
    path("usage-users", usage.UsageUserListView.as_view(), name="usage-user-list"),
    path("usage-users/<int:usage_user_id>", usage.UsageUserDetailView.as_view(), name="usage-user-detail"),
    path("bonuses/<int:bonus_id>", bonuses.BonusDetailView.as_view(), name="bonus-detail"),
    path("bonus-api/<str:label_key>/redeem", bonuses.RedeemCallbackView.as_view(), name="bonus-redeem-callback"),
    path("events", events.EventIngestView.as_view(), name="event-ingest"),
    path("financial/dashboard", financial.FinancialDashboardView.as_view(), name="financial-dashboard"),
    path("orders", financial.OrderListView.as_view(), name="order-list"),
    path("orders/<int:order_pk>", financial.OrderDetailView.as_view(), name="order-detail"),
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
    path("tickets", tickets.TicketListView.as_view(), name="ticket-list"),
    path("tickets/<uuid:ticket_id>", tickets.TicketDetailView.as_view(), name="ticket-detail"),
    path("tickets/<uuid:ticket_id>/comments", tickets.TicketCommentsView.as_view(), name="ticket-comments"),
    path("tickets/<uuid:ticket_id>/history", tickets.TicketHistoryView.as_view(), name="ticket-history"),
]
