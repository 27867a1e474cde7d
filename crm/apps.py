from django.apps import AppConfig


class CrmConfig(AppConfig):
    verbose_name = "CRM"
    name = "crm"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the CRM's pipeline handlers (profile, aggregates, roll-ups, segments), the segment and behaviour
        # leaves of condition trees, and the automation group's rules handler with the rules' tasks.
        from crm import conditions_segment, handlers, handlers_rollups, handlers_segments  # noqa: F401
        from crm.catalogue import AFFILIATE_TYPES, system_types_register

        system_types_register(AFFILIATE_TYPES)  # the pixel's conversions, logged by crm.services.affiliates
        from crm.automation import handler, tasks  # noqa: F401
        from crm.automation.selectors import rules_using_segment
        from crm.services.segments import register_segment_user

        register_segment_user(rules_using_segment)
        from crm.conditions import behaviour  # noqa: F401
