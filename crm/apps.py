from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the CRM's pipeline handlers (profile, aggregates, segments) and the segment leaf of condition trees.
        from crm import conditions_segment, handlers, handlers_segments  # noqa: F401
