"""Celery task of affiliate tracking: link conversions to players who arrived after their pixel fired."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.services.affiliates import conversions_link_players

log = structlog.get_logger(__name__)

__all__ = ["affiliate_conversions_link"]


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
