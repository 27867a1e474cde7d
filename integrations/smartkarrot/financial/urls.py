"""URLs of the SmartKarrot-compatible financial endpoints (included by integrations/smartkarrot/urls.py at
`dashboards/v4/financial/`). Each path answers with and without its trailing slash: the reference's examples use both,
and APPEND_SLASH cannot redirect a POST."""

from django.urls import re_path

from integrations.smartkarrot.financial import views

urlpatterns = [
    re_path(r"^orders/?$", views.OrdersView.as_view(), name="sk-financial-orders"),
    re_path(r"^orders/(?P<order_id>[^/]+)/?$", views.OrderView.as_view(), name="sk-financial-order"),
    re_path(r"^app-financial-data/?$", views.AppFinancialView.as_view(), name="sk-financial-app"),
    re_path(
        r"^app-financial-data/(?P<app_id>[^/]+)/?$", views.AppFinancialDetailView.as_view(), name="sk-financial-app-one"
    ),
    re_path(r"^account-financial-data/?$", views.AccountFinancialView.as_view(), name="sk-financial-account"),
    re_path(
        r"^account-financial-data/(?P<account_id>[^/]+)/?$",
        views.AccountFinancialDetailView.as_view(),
        name="sk-financial-account-one",
    ),
]
