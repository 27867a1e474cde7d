"""Delivering bonuses to the operator's Bonus API (ARCHITECTURE.md, "Deliver").

A worker claims a bonus with a conditional UPDATE (pending or unknown, due → in flight, attempts + 1; the new attempt
number is the claim's token), calls the operator with the bonus's stored idempotency key, and records the outcome
with an UPDATE conditional on that token, so a late worker can never overwrite a newer outcome:

- applied (201, or 200 for a key already applied) → issued, delivery done;
- refused (4xx) → issue failed;
- transient (5xx, 429, could not connect) → pending again after a backoff, until `deliver_until`; then issue failed;
- no answer (read timeout, dropped connection) → unknown. An unknown bonus is next LOOKED UP with the same key:
  found → issued; not found → issued again with the same key (the operator applies a key once), or, past the retry
  window, issue failed. A bonus is never sent under another key.

The beat's sweeper turns a claim older than `PITBOSS_BONUS_STALE_SECONDS` (its worker died mid-call) into unknown,
and re-dispatches every bonus still due SWEEP_GRACE after its time (its wake-up message was lost).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from crm.models import STORE_BONUS_KEY_PREFIX, Bonus, BonusSource, BonusStatus, DeliveryState
from integrations.bonus_api.client import BonusApiClient, Issued
from integrations.bonus_api.services import bonus_connection_get
from integrations.http import HttpError, PermanentError, TransientError, UnknownOutcome

log = structlog.get_logger(__name__)
SWEEP_LIMIT = 1000
# A due bonus is normally claimed by the message sent when it became due; the sweeper re-sends only past this.
SWEEP_GRACE = dt.timedelta(seconds=10)
MAX_ERROR = 2000


@dataclass(frozen=True)
class Claim:
    bonus_id: int
    attempt: int
    look_up_first: bool  # the last call's outcome is unknown (or a staff re-send): ask the operator before issuing


def bonus_deliver(*, bonus_id: int) -> str | None:
    """Claim the bonus if it is due and call the operator once; the outcome ("issued", "retry", "unknown",
    "issue_failed"), or None when there was nothing to claim (done, not due, or another worker has it)."""
    claim = _claim(bonus_id)
    if claim is None:
        return None
    bonus = Bonus.objects.select_related("template", "player__brand").get(pk=bonus_id)
    conn = bonus_connection_get(label_id=bonus.label_id)
    if conn is None or not conn.is_active:
        return _retry(bonus, claim, TransientError("No active Bonus API connection for the label."), unknown=False)
    client = BonusApiClient.for_connection(conn)
    if claim.look_up_first:
        try:
            found = client.lookup(bonus.idempotency_key)
        except HttpError as exc:
            return _retry(bonus, claim, exc, unknown=True)
        if found is not None:
            return _issued(bonus, claim, found)
        if timezone.now() >= bonus.deliver_until:
            return _failed(bonus, claim, PermanentError("Not applied at the operator, and the retry window is over."))
    return _issue(bonus, claim, client)


def _issue(bonus: Bonus, claim: Claim, client: BonusApiClient) -> str:
    try:
        issued = client.issue(bonus.request_body)
    except UnknownOutcome as exc:
        return _retry(bonus, claim, exc, unknown=True)
    except TransientError as exc:
        return _retry(bonus, claim, exc, unknown=False)
    except PermanentError as exc:
        return _failed(bonus, claim, exc)
    return _issued(bonus, claim, issued)


def _claim(bonus_id: int) -> Claim | None:
    """Pending or unknown and due → in flight. FOR UPDATE re-reads the row as last committed, so the state returned
    is the one this claim replaced. Times are the application's clock, as every other time of the row."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH old AS (SELECT id, delivery_state FROM crm_bonus WHERE id = %s"
            " AND delivery_state IN ('pending', 'unknown') AND next_attempt_at <= %s FOR UPDATE)"
            " UPDATE crm_bonus b SET delivery_state = 'in_flight', attempts = b.attempts + 1, claimed_at = %s,"
            " updated_at = %s FROM old WHERE b.id = old.id RETURNING b.attempts, old.delivery_state",
            [bonus_id, now, now, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Claim(bonus_id=bonus_id, attempt=row[0], look_up_first=row[1] == DeliveryState.UNKNOWN)


def _record(bonus: Bonus, claim: Claim, **fields: Any) -> bool:
    """Write an outcome if the claim is still ours (no sweeper or other worker took the bonus since)."""
    fields["updated_at"] = timezone.now()
    done = Bonus.objects.filter(pk=bonus.pk, delivery_state=DeliveryState.IN_FLIGHT, attempts=claim.attempt).update(
        **fields
    )
    if not done:
        log.warning("bonus_outcome_stale", bonus_id=bonus.pk, attempt=claim.attempt)
    return bool(done)


def _issued(bonus: Bonus, claim: Claim, issued: Issued) -> str:
    status = issued.status if issued.status in (BonusStatus.REDEEMED, BonusStatus.REDEEM_FAILED) else "issued"
    now = timezone.now()
    _record(
        bonus,
        claim,
        status=status,
        delivery_state=DeliveryState.DONE,
        operator_bonus_id=issued.operator_bonus_id,
        issued_at=now,
        redeemed_at=now if status == BonusStatus.REDEEMED else None,
        response_body={"http_status": issued.http_status, "body": issued.body},
        last_error="",
    )
    log.info("bonus_issued", bonus_id=bonus.pk, attempt=claim.attempt)
    return "issued"


def _failed(bonus: Bonus, claim: Claim, exc: HttpError) -> str:
    """Issue failed, for good. A bonus bought in the store is paid back in the same transaction (once: only the
    claim that records the failure refunds), so the player never pays for a bonus they did not get."""
    with transaction.atomic():
        recorded = _record(
            bonus,
            claim,
            status=BonusStatus.ISSUE_FAILED,
            delivery_state=DeliveryState.FAILED,
            last_error=exc.message[:MAX_ERROR],
            response_body=_response(exc),
        )
        if recorded and bonus.source == BonusSource.STORE:
            _store_refund(bonus)
    log.warning("bonus_issue_failed", bonus_id=bonus.pk, attempt=claim.attempt, status=exc.status)
    return "issue_failed"


def _store_refund(bonus: Bonus) -> None:
    from gamification.services.store import store_purchase_refund  # gamification builds on crm: imported late

    purchase_id = int(bonus.key.removeprefix(STORE_BONUS_KEY_PREFIX))
    reason = f"Refund: the bonus {bonus.template.name} was not issued by the operator"
    if store_purchase_refund(purchase_id=purchase_id, reason=reason):
        log.info("store_purchase_refunded", bonus_id=bonus.pk, purchase_id=purchase_id)


def _retry(bonus: Bonus, claim: Claim, exc: HttpError, *, unknown: bool) -> str:
    """Try again after a backoff. Past the window a transient failure is final; an unknown outcome is not (it could
    have been applied): it keeps being looked up, at the longest backoff, until the operator answers."""
    now = timezone.now()
    if not unknown and now >= bonus.deliver_until:
        return _failed(bonus, claim, exc)
    delay = backoff_seconds(attempt=claim.attempt)
    state = DeliveryState.UNKNOWN if unknown else DeliveryState.PENDING
    recorded = _record(
        bonus,
        claim,
        delivery_state=state,
        next_attempt_at=now + dt.timedelta(seconds=delay),
        last_error=exc.message[:MAX_ERROR],
        response_body=_response(exc),
    )
    log.info("bonus_retry", bonus_id=bonus.pk, attempt=claim.attempt, state=state, delay_s=round(delay, 1))
    if recorded:
        from crm.services.bonuses import bonus_dispatch

        bonus_dispatch(bonus_id=bonus.pk, countdown=delay)
    return "unknown" if unknown else "retry"


def backoff_seconds(*, attempt: int) -> float:
    """Exponential from PITBOSS_BONUS_RETRY_BASE_SECONDS, capped at PITBOSS_BONUS_RETRY_MAX_SECONDS, with jitter so
    that bonuses failed together do not come back together."""
    base = settings.PITBOSS_BONUS_RETRY_BASE_SECONDS
    delay = min(base * 2 ** max(attempt - 1, 0), settings.PITBOSS_BONUS_RETRY_MAX_SECONDS)
    return delay * random.uniform(0.8, 1.2)


def _response(exc: HttpError) -> dict[str, Any]:
    return {"http_status": exc.status, "body": exc.body, "error": exc.message[:MAX_ERROR]}


# --- the sweeper -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepResult:
    stale: int  # claims whose worker died: now unknown
    dispatched: int


def bonuses_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Turn stale claims into unknown (to be looked up) and dispatch them, and every bonus due for longer than
    SWEEP_GRACE (its wake-up was lost: a broker outage, a crash between commit and publish). A bonus dispatched twice
    is claimed once."""
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.PITBOSS_BONUS_STALE_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE crm_bonus SET delivery_state = 'unknown', next_attempt_at = %s, updated_at = %s,"
            " last_error = 'The worker was lost mid-call.' WHERE delivery_state = 'in_flight' AND claimed_at < %s"
            " RETURNING id",
            [now, now, stale_before],
        )
        stale = [row[0] for row in cursor.fetchall()]
    due = list(
        Bonus.objects.filter(
            delivery_state__in=[DeliveryState.PENDING, DeliveryState.UNKNOWN], next_attempt_at__lte=now - SWEEP_GRACE
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_LIMIT]
    )
    from crm.services.bonuses import bonus_dispatch

    dispatched = sum(1 for bonus_id in [*stale, *due] if bonus_dispatch(bonus_id=bonus_id))
    if stale or dispatched:
        log.info("bonuses_swept", stale=len(stale), dispatched=dispatched)
    return SweepResult(stale=len(stale), dispatched=dispatched)
