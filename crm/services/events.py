"""Writes about stored events: retrying the ones a pipeline group failed on."""

from __future__ import annotations

from collections.abc import Iterable

import structlog
from django.db import connection

log = structlog.get_logger(__name__)

# Only open failures move: a resolved one was applied (retrying it would apply its effects twice). The partition's
# worker applies them under the partition's lock, and resolves each in the transaction of its effects, so two people
# retrying the same failure at once still apply it once.
_SCHEDULE = """
UPDATE pipeline_failure SET retry_after = now()
WHERE event_id = ANY(%s) AND resolved_at IS NULL AND (%s::text IS NULL OR group_name = %s)
RETURNING event_id
"""


def events_retry(*, event_ids: Iterable[int], group: str | None = None) -> list[int]:
    """Ask the pipeline to retry the open failures of `event_ids` (in `group`, or in every group) now.

    Returns the ids that had an open failure (the others are left as they are). The retry itself runs in the
    partition's worker, or the sweeper, within seconds.
    """
    ids = sorted(set(event_ids))
    if not ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_SCHEDULE, [ids, group, group])
        scheduled = sorted({row[0] for row in cursor.fetchall()})
    log.info("events_retry_scheduled", requested=len(ids), scheduled=len(scheduled))
    return scheduled
