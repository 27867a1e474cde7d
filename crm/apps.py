from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The CRM's pipeline handlers (profile, aggregates, roll-ups, segments) and the behaviour and segment leaves of
        # condition trees.
        from crm import conditions_segment, handlers, handlers_rollups, handlers_segments  # noqa: F401
        from crm.conditions import behaviour  # noqa: F401
