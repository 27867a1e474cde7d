"""Celery tasks of bonuses (queue `bonus`; the catalogue sync on `sync`). They carry ids; the rows hold the state, so a
lost or repeated message changes nothing: the beat's sweeper re-dispatches what is due."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS
from backoffice.models import Label
from crm.services.bonus_delivery import bonus_deliver, bonuses_sweep
from crm.services.bonuses import bonus_templates_sync, bonuses_expire
from integrations.models import BonusApiConnection

log = structlog.get_logger(__name__)


@shared_task(name="crm.bonus_deliver", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def bonus_deliver_task(bonus_id: int) -> str | None:
    """Claim and call the operator for one bonus (quietly nothing when it is gone, done or claimed elsewhere)."""
    return bonus_deliver(bonus_id=bonus_id)


@shared_task(name="crm.bonuses_sweep")
def bonuses_sweep_task() -> int:
    """Beat: stale claims become unknown, due bonuses are dispatched; how many were dispatched."""
    return bonuses_sweep().dispatched


@shared_task(name="crm.bonuses_expire")
def bonuses_expire_task() -> int:
    """Beat: issued bonuses past their expiry become expired."""
    return bonuses_expire()


@shared_task(name="crm.bonus_templates_sync")
def bonus_templates_sync_task() -> int:
    """Beat, daily: sync the template catalogue of every label with an active connection; how many labels synced.
    A label whose operator fails is logged (and its error shown on the connection) and the others go on."""
    synced = 0
    for label_id in BonusApiConnection.objects.filter(is_active=True).values_list("label_id", flat=True):
        try:
            bonus_templates_sync(label=Label.objects.get(pk=label_id))
        except Exception as exc:  # one operator's outage or bad answer must not stop the others
            log.warning("bonus_templates_sync_failed", label_id=label_id, error=type(exc).__name__)
            continue
        synced += 1
    return synced
