from django.apps import AppConfig


class GamificationConfig(AppConfig):
    name = "gamification"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from gamification import handlers  # noqa: F401 - registers mission and tournament pipeline handlers
        from gamification.facts import facts_register

        facts_register()  # its facts join the event catalogue
