"""Celery task of the behavioural roll-ups: a spec's backfill, in chunks (registered through crm/tasks.py)."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS

log = structlog.get_logger(__name__)

BUDGET_SECONDS = 20.0  # then the task queues itself again: a worker is never held for a whole year of events


@shared_task(name="crm.rollup_backfill", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=10)
def rollup_backfill(spec_id: int) -> bool:
    """Backfill the spec's roll-ups from the event log, page by page (each page and the spec's position commit
    together, so a task killed mid-way or delivered twice counts nothing twice); queue the rest if time runs out.
    Returns True once the spec is ready."""
    from crm.models import RollupSpec
    from crm.services.rollups import rollup_backfill_run

    if not RollupSpec.objects.filter(pk=spec_id).exists():
        return True  # deleted meanwhile
    done = rollup_backfill_run(spec_id=spec_id, budget_seconds=BUDGET_SECONDS)
    if not done:
        rollup_backfill.delay(spec_id)
    else:
        log.info("rollup_backfill_done", spec_id=spec_id)
    return done


@shared_task(name="crm.rollup_backfills_resume", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def rollup_backfills_resume() -> int:
    """Beat: queue again the backfills that stalled (a lost task). Returns how many were queued."""
    from crm.services.rollups import rollup_backfills_stalled

    stalled = rollup_backfills_stalled()
    for spec_id in stalled:
        rollup_backfill.delay(spec_id)
    if stalled:
        log.info("rollup_backfills_resumed", spec_ids=stalled)
    return len(stalled)
