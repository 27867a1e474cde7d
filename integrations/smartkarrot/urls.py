"""The SmartKarrot-compatible paths, at the reference's own paths under Pitboss's host (backoffice/urls.py)."""

from django.urls import include, path

urlpatterns = [
    path("v4/usageanalytics/", include("integrations.smartkarrot.usage.urls")),
    path("v4/", include("integrations.smartkarrot.tickets.urls")),
    path("dashboards/v4/financial/", include("integrations.smartkarrot.financial.urls")),
]
