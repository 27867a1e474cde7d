from django.urls import include, path

from backoffice.api import currency, views

app_name = "api"
urlpatterns = [
    path("brands", views.BrandListView.as_view(), name="brand-list"),
    path("exchange-rates", currency.ExchangeRateListView.as_view(), name="exchange-rate-list"),
    path("exchange-rates/<int:rate_id>", currency.ExchangeRateDetailView.as_view(), name="exchange-rate-detail"),
    path("", include("crm.api.urls")),
    path("", include("gamification.api.urls")),
]
