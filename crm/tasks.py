"""Celery tasks of the event pipeline. The log is the queue: no task carries events, so a lost message or a broker
outage loses nothing. Workers (`manage.py pipeline_work`) consume the groups; the beat sweeper is their fallback."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.pipeline import pipeline_drain, ticks_prune
from crm.tasks_bonuses import (  # noqa: F401 - registers the bonus tasks (Celery autodiscovers only this module)
    bonus_deliver_task,
    bonus_templates_sync_task,
    bonuses_expire_task,
    bonuses_sweep_task,
)

log = structlog.get_logger(__name__)


@shared_task(name="crm.pipeline_sweep", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def pipeline_sweep(budget_seconds: float = 8.0) -> int:
    """Tick, prune old ticks, and apply what sits in partitions no live worker holds (no `pipeline_work` running, or
    a dead one whose lease expired), for at most `budget_seconds`. Return the events applied."""
    done = pipeline_drain(budget_seconds=budget_seconds)
    pruned = ticks_prune()
    if done or pruned:
        log.info("pipeline_swept", events=done, ticks_pruned=pruned)
    return done


from crm.tasks_affiliates import *  # noqa: E402, F403 - registers affiliate tracking's task by name
from crm.tasks_rollups import *  # noqa: E402, F403 - registers the roll-ups' backfill task by name
from crm.tasks_segments import *  # noqa: E402, F403 - registers the segments' tasks by name
