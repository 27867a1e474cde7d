from django.apps import AppConfig


class GamificationConfig(AppConfig):
    name = "gamification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gamification import handlers  # noqa: F401 - registers mission and tournament pipeline handlers
        from gamification.facts import facts_register

        facts_register()  # its facts join the event catalogue
        from crm.catalogue import type_users_register
        from gamification.selectors.catalogue import type_users

        type_users_register(type_users)  # the event type admin names the missions and tournaments reading a type
