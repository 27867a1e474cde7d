"""Celery tasks of the integrations app (Celery's autodiscovery imports this module)."""

from integrations.replica.tasks import sync_poll, sync_view

__all__ = ["sync_poll", "sync_view"]
