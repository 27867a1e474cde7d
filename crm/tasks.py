"""Celery tasks of the event pipeline. They carry event ids; the rows hold the state."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

import structlog
from celery import shared_task
from django.conf import settings

from crm.pipeline import TRANSIENT, events_process, events_process_stale

log = structlog.get_logger(__name__)
BATCH_SIZE = 500
_broker_down_until = 0.0


def dispatch_processing(event_ids: Sequence[int]) -> None:
    """Enqueue micro-batches of ids. If the broker is down the events wait, stored, for the sweeper.

    After a failed publish the broker is left alone for a few seconds, so ingest stays fast while it is away.
    """
    global _broker_down_until  # a per-process circuit breaker
    if time.monotonic() < _broker_down_until:
        return
    start = 0
    try:
        with process_events.app.producer_or_acquire() as producer:
            # One connection attempt: `retry=False` does not reach kombu's connect loop, which would otherwise retry
            # for the whole broker_connection_timeout on each publish while the broker is away, inside the request.
            producer.connection.ensure_connection(max_retries=0)
            for start in range(0, len(event_ids), BATCH_SIZE):
                chunk = list(event_ids[start : start + BATCH_SIZE])
                process_events.apply_async((chunk,), retry=False, producer=producer)
    except Exception as exc:  # kombu raises many kinds; none of them may fail an ingest that is committed
        _broker_down_until = time.monotonic() + settings.PITBOSS_BROKER_BACKOFF_SECONDS
        log.warning("dispatch_failed", events=len(event_ids) - start, error=type(exc).__name__)


@shared_task(
    name="crm.process_events",
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=None,
)
def process_events(event_ids: list[int]) -> int:
    """Run the pipeline handlers over these events (those already processed are skipped)."""
    return events_process(event_ids)


@shared_task(name="crm.sweep_events")
def sweep_events(older_than_seconds: int = 10, budget_seconds: float = 20.0) -> int:
    """Process what a lost message or a killed worker left behind, in batches, for at most `budget_seconds`."""
    deadline = time.monotonic() + budget_seconds
    total = 0
    while time.monotonic() < deadline:
        done = events_process_stale(older_than=dt.timedelta(seconds=older_than_seconds), limit=BATCH_SIZE)
        total += done
        if done < BATCH_SIZE:
            break
    if total:
        log.info("sweep_processed", events=total)
    return total
