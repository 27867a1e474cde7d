from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm import handlers, handlers_rollups  # noqa: F401 - registers the CRM's pipeline handlers
        from crm.automation import handler, tasks  # noqa: F401 - the automation group's rules handler, rule tasks
