from django.urls import include, path

from backoffice.api import views

app_name = "api"
urlpatterns = [
    path("brands", views.BrandListView.as_view(), name="brand-list"),
    path("", include("crm.api.urls")),
    path("", include("gamification.api.urls")),
]
