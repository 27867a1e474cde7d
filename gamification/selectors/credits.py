"""Reads about staff credits and reversals, for callers outside the wallet (the tournament handler, reports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from gamification.models import CreditRequest, CreditRequestStatus, WalletEntry


@dataclass(frozen=True, slots=True)
class ReversedCredit:
    """What a reversal took back: the credit's source, amount, currency and when it was made. A consumer of the
    reversal's `balance_changed` fact (source `reversal`, a negative amount) decides with it whether the credit had
    counted, e.g. a tournament whose window held `credited_at` and whose conditions matched `source`."""

    reversal_id: int
    credit_id: int
    source: str
    currency: str
    amount: int
    credited_at: dt.datetime


def reversed_credits(*, reversal_ids: Iterable[int]) -> dict[int, ReversedCredit]:
    """Reversal entry id -> the credit it took back, for the ids that are reversals (one query)."""
    ids = sorted(set(reversal_ids))
    if not ids:
        return {}
    rows = WalletEntry.objects.filter(pk__in=ids, reverses__isnull=False).values_list(
        "pk", "reverses_id", "reverses__source", "reverses__currency", "reverses__amount", "reverses__created_at"
    )
    return {row[0]: ReversedCredit(*row) for row in rows}


BADGE_CAP = 99


def credit_requests_pending_count(*, label_ids: Iterable[int], cap: int = BADGE_CAP + 1) -> int:
    """How many credits of these labels wait for a second staff member, counted up to `cap` (the sidebar shows "99+"):
    an index range read of at most `cap` rows of the partial index of pending ones, never a count of the table."""
    pending = CreditRequest.objects.filter(label_id__in=list(label_ids), status=CreditRequestStatus.PENDING)
    return len(pending.values_list("pk", flat=True)[:cap])
