"""Celery tasks of automation rules. Tasks carry ids; the rows hold the state (runs, backtests, webhook outbox)."""

from __future__ import annotations

import structlog
from celery import shared_task

from backoffice.db import TRANSIENT_DB_ERRORS

log = structlog.get_logger(__name__)


@shared_task(name="crm.rules_webhook_deliver", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=5)
def rules_webhook_deliver(delivery_id: int) -> str | None:
    """Send one webhook delivery if it is due; schedule the next attempt when it must be retried."""
    from crm.automation.webhooks import webhook_deliver, webhook_dispatch
    from crm.models.rules import WebhookDelivery

    status = webhook_deliver(delivery_id=delivery_id)
    if status == "pending":
        delivery = WebhookDelivery.objects.filter(pk=delivery_id).only("next_attempt_at").first()
        if delivery is not None:
            webhook_dispatch(delivery_id=delivery_id, eta=delivery.next_attempt_at)
    return status


@shared_task(name="crm.rules_webhooks_sweep")
def rules_webhooks_sweep() -> int:
    """Re-dispatch webhook deliveries that are due (a lost message, a killed worker); return how many."""
    from crm.automation.webhooks import webhook_dispatch, webhooks_due

    ids = webhooks_due()
    for delivery_id in ids:
        webhook_dispatch(delivery_id=delivery_id)
    return len(ids)


@shared_task(name="crm.rules_schedule_tick", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=3)
def rules_schedule_tick() -> int:
    """Every minute: start the scheduled rules' due runs, and resume runs a killed worker left; return runs sent."""
    from crm.automation.scheduled import runs_due

    run_ids = runs_due()
    for run_id in run_ids:
        rules_run_execute.delay(run_id)
    return len(run_ids)


@shared_task(name="crm.rules_run_execute", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=5)
def rules_run_execute(run_id: int) -> int:
    """Work through a scheduled run's players in chunks (resumable); return the players done by this call."""
    from crm.automation.scheduled import run_execute

    return run_execute(run_id=run_id)


@shared_task(name="crm.rules_backtest", autoretry_for=TRANSIENT_DB_ERRORS, retry_backoff=True, max_retries=2)
def rules_backtest(backtest_id: int) -> None:
    """Run one backtest, updating its row's progress; the row is gone: nothing to do."""
    from crm.automation.backtest import backtest_execute

    backtest_execute(backtest_id=backtest_id)
