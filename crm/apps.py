from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"
