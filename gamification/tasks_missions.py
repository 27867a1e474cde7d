"""Beat tasks of missions."""

from __future__ import annotations

import structlog
from celery import shared_task

from gamification.services.missions import missions_mark_missed, missions_open_fold

__all__ = ["missions_expire"]

log = structlog.get_logger(__name__)


@shared_task(name="gamification.missions_expire")
def missions_expire() -> int:
    """Persist missed runs (past their time limit, their mission's end or their cycle). Selectors already show them
    as missed; this makes the state queryable (segments, the admin) and stops late events from counting. Their
    progress moves from the players' progress documents onto the runs. The count of each mission's runs open without
    a row is folded into one row per mission and cycle, the cycles that are over dropped."""
    missions_open_fold()
    missed = missions_mark_missed()
    if missed:
        log.info("missions_expired", missed=missed)
    return missed
