from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm import handlers, handlers_rollups  # noqa: F401 - registers the CRM's pipeline handlers
        from crm.conditions import behaviour  # noqa: F401 - registers the behaviour leaf of condition trees
