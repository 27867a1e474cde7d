"""Writes to stored events: putting failed events back in the backlog."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from django.db import connection, transaction

log = structlog.get_logger(__name__)

# Only events set aside by a handler error move: a processed event retried would apply its effects twice, a pending
# one is already waiting. The UPDATE checks that in the same statement that changes them, so two people retrying the
# same events at once queue each event once.
_REQUEUE = """
UPDATE crm_event SET processed_at = NULL, processing_error = ''
WHERE id = ANY(%s) AND processed_at IS NOT NULL AND processing_error <> ''
RETURNING id
"""


def events_retry(*, event_ids: Iterable[int]) -> list[int]:
    """Put the failed events among `event_ids` back in the backlog and dispatch them after commit.

    Returns the ids that were re-queued (those not failed are left as they are). If the broker is down the events
    stay in the backlog, where the sweeper finds them.
    """
    ids = sorted(set(event_ids))
    if not ids:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_REQUEUE, [ids])
        requeued = sorted(row[0] for row in cursor.fetchall())
        if requeued:
            transaction.on_commit(lambda: _dispatch(requeued))
    log.info("events_requeued", requested=len(ids), requeued=len(requeued))
    return requeued


def _dispatch(event_ids: list[int]) -> None:
    from crm.tasks import dispatch_processing

    dispatch_processing(event_ids)
