from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    verbose_name = "Back office"
    name = "backoffice"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backoffice import db, request_log  # noqa: F401 - times loaded in C; the request log's client address
        from backoffice.api import schema  # noqa: F401 - registers the OpenAPI auth extensions
        from backoffice.dbpool import register_fork_hook

        register_fork_hook()  # a forked child (Celery prefork, preloaded gunicorn) opens its own connections
