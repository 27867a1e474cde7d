from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    verbose_name = "Back office"
    name = "backoffice"
    default_auto_field = "django.db.models.BigAutoField"
