"""Celery tasks of affiliate tracking: link conversions to players who arrived after their pixel fired, and put the
conversions of known players into the event log."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.services.affiliates import LOG_BATCH, conversions_link_players, conversions_log

log = structlog.get_logger(__name__)

__all__ = ["affiliate_conversions_link", "affiliate_conversions_log"]
MAX_ROUNDS = 20  # per run: at most 20 x LOG_BATCH conversions; the next beat takes the rest


@shared_task(
    name="crm.affiliate_conversions_link", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3
)
def affiliate_conversions_link() -> int:
    """Link conversions whose player_id names a player that exists now, and attribute those players (beat, every
    minute). One statement; harmless when run twice or concurrently. Returns the conversions linked."""
    linked, attributed = conversions_link_players()
    if linked:
        log.info("affiliate_conversions_linked", conversions=linked, players_attributed=attributed)
    return linked


@shared_task(name="crm.affiliate_conversions_log", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def affiliate_conversions_log() -> int:
    """The conversions of known players, not logged yet, into the event log as affiliate_conversion events (beat,
    every 5 seconds), in batches until none is left or MAX_ROUNDS ran. Harmless when run twice or concurrently.
    Returns the conversions logged."""
    total = 0
    for _ in range(MAX_ROUNDS):
        logged, refused = conversions_log()
        total += logged
        if logged + refused < LOG_BATCH:
            break
    if total:
        log.info("affiliate_conversions_logged", conversions=total)
    return total
