"""URLs of the SmartKarrot-compatible usage endpoints (included by integrations/smartkarrot/urls.py at
`v4/usageanalytics/`). Each path answers with and without a trailing slash: the reference writes both, and
APPEND_SLASH cannot redirect a POST."""

from django.urls import re_path

from integrations.smartkarrot.usage import views

urlpatterns = [
    re_path(r"^customer/?$", views.CustomerView.as_view(), name="sk-usage-customer"),
    re_path(r"^user/?$", views.UserView.as_view(), name="sk-usage-user"),
    re_path(r"^event/?$", views.EventView.as_view(), name="sk-usage-event"),
    re_path(r"^user/attribute/?$", views.UserAttributeView.as_view(), name="sk-usage-user-attribute"),
    re_path(r"^device/attribute/?$", views.DeviceAttributeView.as_view(), name="sk-usage-device-attribute"),
    re_path(r"^device/token/?$", views.DeviceTokenView.as_view(), name="sk-usage-device-token"),
]
