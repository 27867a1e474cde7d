"""Rule webhooks: an outbox row written with the effect, POSTed after commit by a task on the `deliver` queue.

A worker claims a due row with a conditional UPDATE (pending, or in flight for longer than the claim timeout, and
due), POSTs the body with `X-Pitboss-Signature: sha256=<hex HMAC-SHA256 of the body with the rule's secret>` and
`X-Pitboss-Delivery: <key>` (the same on every attempt: the receiver's idempotency key), and records the outcome.
A 2xx is done; a 5xx, 429 or network error is retried with backoff (`BACKOFF_SECONDS`), then failed; another 4xx
fails at once. The beat's `crm.rules_webhooks_sweep` re-dispatches what a lost message or a killed worker left.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import httpx
import orjson
import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.models.rules import Rule, WebhookDelivery, WebhookStatus

log = structlog.get_logger(__name__)

BACKOFF_SECONDS = (5, 30, 120, 600, 1800)  # then failed
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
SIGNATURE_HEADER = "X-Pitboss-Signature"
DELIVERY_HEADER = "X-Pitboss-Delivery"


def webhook_signature(*, secret: str, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_enqueue(*, rule_id: int, label_id: int, effect_id: int | None, key: str, url: str, body) -> int:
    """Write the outbox row (once per key) and send it after commit; return its id."""
    now = timezone.now()
    delivery, _ = WebhookDelivery.objects.get_or_create(
        key=key,
        defaults={
            "label_id": label_id,
            "rule_id": rule_id,
            "effect_id": effect_id,
            "url": url,
            "body": orjson.dumps(body).decode(),
            "next_attempt_at": now,
        },
    )
    transaction.on_commit(lambda: _dispatch(delivery.pk))
    return delivery.pk


def _dispatch(delivery_id: int) -> None:
    try:
        webhook_dispatch(delivery_id=delivery_id)
    except Exception as exc:  # the broker is away: the sweeper sends it
        log.warning("webhook_dispatch_failed", delivery_id=delivery_id, error=type(exc).__name__)


def webhook_dispatch(*, delivery_id: int, eta: dt.datetime | None = None) -> None:
    """Send the delivery's task to the webhook queue (PITBOSS_WEBHOOK_QUEUE), at `eta` when given."""
    from crm.automation.tasks import rules_webhook_deliver

    rules_webhook_deliver.apply_async((delivery_id,), eta=eta, queue=settings.PITBOSS_WEBHOOK_QUEUE)


def claim_timeout() -> dt.timedelta:
    """How long a claim holds: past it, the delivery's worker is taken for dead (PITBOSS_WEBHOOK_CLAIM_SECONDS)."""
    return dt.timedelta(seconds=settings.PITBOSS_WEBHOOK_CLAIM_SECONDS)


_CLAIM = """
UPDATE crm_webhookdelivery SET status = 'in_flight', claimed_at = clock_timestamp(), attempts = attempts + 1
 WHERE id = %s AND next_attempt_at <= clock_timestamp()
   AND (status = 'pending' OR (status = 'in_flight' AND claimed_at < clock_timestamp() - %s::interval))
RETURNING id
"""


def webhook_deliver(*, delivery_id: int) -> str | None:
    """Claim and send one delivery; return its new status (None when it was not due or someone else has it)."""
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, [delivery_id, f"{int(claim_timeout().total_seconds())} seconds"])
        if cursor.fetchone() is None:
            return None
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    secret = Rule.objects.filter(pk=delivery.rule_id).values_list("webhook_secret", flat=True).first() or ""
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: webhook_signature(secret=secret, body=body),
        DELIVERY_HEADER: delivery.key,
        "User-Agent": "Pitboss-Webhook/1",
    }
    try:
        response = httpx.post(delivery.url, content=body, headers=headers, timeout=TIMEOUT, follow_redirects=False)
    except httpx.HTTPError as exc:
        return _record(delivery, status_code=None, error=f"{type(exc).__name__}: {exc}", retry=True)
    if 200 <= response.status_code < 300:
        return _record(delivery, status_code=response.status_code, error="", retry=False, done=True)
    transient = response.status_code >= 500 or response.status_code in (408, 429)
    return _record(delivery, status_code=response.status_code, error=f"HTTP {response.status_code}", retry=transient)


def _record(delivery: WebhookDelivery, *, status_code: int | None, error: str, retry: bool, done=False) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {"response_status": status_code, "last_error": error[:500], "claimed_at": None}
    if done:
        fields |= {"status": WebhookStatus.DONE, "delivered_at": now}
    elif retry and delivery.attempts <= len(BACKOFF_SECONDS):
        backoff = BACKOFF_SECONDS[delivery.attempts - 1]
        fields |= {"status": WebhookStatus.PENDING, "next_attempt_at": now + dt.timedelta(seconds=backoff)}
    else:
        fields |= {"status": WebhookStatus.FAILED}
    WebhookDelivery.objects.filter(pk=delivery.pk, status=WebhookStatus.IN_FLIGHT).update(**fields)
    log.info("webhook_attempt", delivery_id=delivery.pk, status=fields["status"], http_status=status_code,
             attempts=delivery.attempts)  # fmt: skip
    return str(fields["status"])


def webhooks_due(*, limit: int = 500) -> list[int]:
    """Ids of deliveries due now (pending and due, or claimed by a worker that died)."""
    stale = timezone.now() - claim_timeout()
    rows = WebhookDelivery.objects.filter(next_attempt_at__lte=timezone.now()).filter(
        status__in=[WebhookStatus.PENDING, WebhookStatus.IN_FLIGHT]
    )
    ids = [
        pk
        for pk, status, claimed in rows.order_by("next_attempt_at").values_list("pk", "status", "claimed_at")[:limit]
        if status == WebhookStatus.PENDING or (claimed is not None and claimed < stale)
    ]
    return ids
