"""The Celery application. Celery is transport, never truth: tasks carry ids and the rows hold the state."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings.local")

app = Celery("pitboss")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _use_django_logging(**kwargs) -> None:
    """Workers and beat log through settings.LOGGING (structlog, key=value lines), not Celery's own format.

    Connecting this signal replaces Celery's logging setup, so the level is LOG_LEVEL's and `-l` has no effect.
    """
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@worker_init.connect
def _settle(**kwargs) -> None:
    """Once the worker has loaded Django and the tasks, before its pool forks (the children inherit it)."""
    from backoffice.runtime import gc_settle

    gc_settle()
