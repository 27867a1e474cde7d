"""Beat tasks of tournaments."""

from __future__ import annotations

import structlog
from celery import shared_task
from django.utils import timezone

from backoffice.db import TRANSIENT_DB_ERRORS
from gamification.services.tournaments import instances_advance

__all__ = ["tournaments_tick"]
log = structlog.get_logger(__name__)


@shared_task(name="gamification.tournaments_tick", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def tournaments_tick() -> dict[str, int]:
    """Publish due instances and move every instance whose time has come; finalize those that ended.

    Every transition is a guarded UPDATE and finalization runs once under its lock, so overlapping beats, a retry,
    or a worker killed mid-way (its transaction rolls back; the next beat does the work) change nothing twice.
    """
    return instances_advance(now=timezone.now())
