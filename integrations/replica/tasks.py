"""Celery tasks of the replica sync. Beat runs `integrations.sync_poll` every 10 s; it enqueues one
`integrations.sync_view` per view whose source's poll interval has passed. Both go to the "sync" queue."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import structlog
from celery import shared_task
from django.utils import timezone

from integrations.replica.services import MORE, sync_view_run, sync_views_due

log = structlog.get_logger(__name__)


def sync_enqueue(view_ids: Iterable[int], *, enqueued_at: dt.datetime | None = None, expires: int | None = None) -> int:
    """Enqueue a run of each view; how many were sent. A broker that is down is logged, never raised."""
    sent = 0
    for view_id in view_ids:
        kwargs = {"enqueued_at": enqueued_at.isoformat()} if enqueued_at else {}
        try:
            sync_view.apply_async((view_id,), kwargs, expires=expires, retry=False)
        except Exception as exc:  # kombu raises many kinds; the next poll enqueues again
            log.warning("replica_sync_enqueue_failed", view_id=view_id, error=type(exc).__name__)
            break
        sent += 1
    return sent


@shared_task(name="integrations.sync_poll")
def sync_poll() -> int:
    """Enqueue a run of every view that is due. A run enqueued twice finds the view locked or already read."""
    now = timezone.now()
    sent = 0
    for view_id, interval in sync_views_due():
        # a message older than the poll interval is stale: the next poll sends a fresh one
        sent += sync_enqueue([view_id], enqueued_at=now, expires=max(interval, 10))
    return sent


@shared_task(name="integrations.sync_view", soft_time_limit=300, time_limit=330)
def sync_view(view_id: int, enqueued_at: str | None = None) -> str | None:
    """Read what is new in one view (returns quietly if the view is gone). With a backlog left, go on at once."""
    since = dt.datetime.fromisoformat(enqueued_at) if enqueued_at else None
    result = sync_view_run(view_id=view_id, enqueued_at=since)
    if result is None:
        return None
    if result.status == MORE:
        sync_enqueue([view_id])
    return result.status
