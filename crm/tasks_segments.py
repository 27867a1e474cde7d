"""Celery tasks of segments: the periodic refresh of tracked membership (time-driven changes) and CSV imports.

Tasks carry ids; the rows hold the state. A refresh is one transaction per segment; an import claims its row, so a
message delivered twice (a killed worker, acks_late) runs it again from the file or returns quietly once done.
"""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.conditions import TreeError
from crm.models import Segment, SegmentStatus
from crm.services.segment_imports import segment_import_run
from crm.services.segments import segment_refresh

log = structlog.get_logger(__name__)


@shared_task(name="crm.segment_refresh", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=5)
def segment_refresh_task(segment_id: int) -> None:
    """Recompute one segment's tracked membership and store its entered / left events (after a save or an import)."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is not None:
        segment_refresh(segment=segment)


@shared_task(name="crm.segments_refresh", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def segments_refresh_task() -> int:
    """Beat: recompute every active segment (relative dates, gamification state, imports: changes no event brings).
    Returns how many players entered or left."""
    changed = 0
    for segment in Segment.objects.filter(status=SegmentStatus.ACTIVE).order_by("pk"):
        try:
            entered, left = segment_refresh(segment=segment)
        except TreeError as exc:  # a tree that stopped being valid (a segment it names was paused...): the rest go on
            log.warning("segment_tree_invalid", segment_id=segment.pk, errors=sorted(exc.errors))
            continue
        changed += entered + left
    return changed


@shared_task(name="crm.segment_import", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=5)
def segment_import_task(import_id: int) -> None:
    """Read an uploaded CSV into its segment's list, in chunks, with progress (crm.services.segment_imports)."""
    segment_import_run(import_id=import_id)
