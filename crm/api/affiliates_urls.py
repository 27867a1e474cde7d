"""/api/v1 paths of affiliate tracking (crm/api/affiliates.py)."""

from django.urls import path

from crm.api import affiliates as views

urlpatterns = [
    path("affiliates", views.AffiliateListView.as_view(), name="affiliate-list"),
    path("affiliates/report", views.ReportView.as_view(), name="affiliate-report"),
    path("affiliates/<int:affiliate_id>", views.AffiliateDetailView.as_view(), name="affiliate-detail"),
    path("campaigns", views.CampaignListView.as_view(), name="campaign-list"),
    path("campaigns/<int:campaign_id>", views.CampaignDetailView.as_view(), name="campaign-detail"),
    path("links", views.LinkListView.as_view(), name="tracking-link-list"),
    path("links/<int:link_id>", views.LinkDetailView.as_view(), name="tracking-link-detail"),
    path("clicks", views.ClickListView.as_view(), name="click-list"),
    path("clicks/<uuid:click_id>", views.ClickDetailView.as_view(), name="click-detail"),
    path("conversions", views.ConversionListView.as_view(), name="conversion-list"),
    path("conversions/<int:conversion_id>", views.ConversionDetailView.as_view(), name="conversion-detail"),
]
