"""The CRM's pipeline handlers: the profile projection and the per-player aggregates."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import structlog
from django.db import connection

from backoffice.crypto import unseal
from backoffice.errors import DomainValidationError
from crm.catalogue import PII_FIELDS, PROFILE_UPDATE
from crm.models import Player
from crm.pipeline import EventRow, handler
from crm.services.players import profile_apply
from crm.validators import clean_profile

log = structlog.get_logger(__name__)


@handler("profile", group="crm", order=10)
def apply_profile_updates(events: list[EventRow]) -> None:
    """Apply profile updates field by field: a field changes only for an update stamped (`dt_update`, else
    `occurred_at`) at or after the update that last set it, so several users views never undo each other."""
    # The pipeline hands events in acceptance order; updates apply in the order they happened (stable for ties).
    updates = sorted((e for e in events if e.type == PROFILE_UPDATE), key=lambda e: e.occurred_at)
    if not updates:
        return
    # FOR NO KEY UPDATE: ingest's foreign-key checks (FOR KEY SHARE) on these players go on while the batch runs.
    locked = Player.objects.select_for_update(no_key=True).filter(pk__in={e.player_id for e in updates})
    players = {p.pk: p for p in locked.order_by("pk")}
    changed: dict[int, set[str]] = defaultdict(set)
    for event in updates:
        player = players[event.player_id]
        # Validated at ingest; parsing again restores the types. Email and phone were stored encrypted.
        clean, _ = clean_profile({k: unseal(v) if k in PII_FIELDS else v for k, v in event.payload.items()})
        stamp = clean.pop("dt_update", None) or event.occurred_at
        try:
            change = profile_apply(player=player, clean=clean, stamp=stamp)
        except DomainValidationError as exc:  # e.g. a wallet currency that was set meanwhile: keep the rest
            log.info("profile_fields_refused", player_id=player.pk, fields=sorted(exc.errors))
            rest = {k: v for k, v in clean.items() if k not in exc.errors}
            change = profile_apply(player=player, clean=rest, stamp=stamp)
        changed[player.pk].update(change.changed)
    for pk, fields in changed.items():
        if fields:  # the same rows again change nothing, not even updated_at
            players[pk].save(update_fields=[*sorted(fields), "updated_at"])


_AGGREGATE_UPSERT = """
INSERT INTO crm_playeraggregate AS a (
    player_id, label_id, deposit_count, deposit_sum, first_deposit_at, last_deposit_at, withdrawal_count,
    withdrawal_sum, bet_count, bet_sum, win_sum, login_count, last_login_at, last_entry_point, updated_at)
SELECT *, now() FROM unnest(
    %s::bigint[], %s::bigint[], %s::int[], %s::numeric[], %s::timestamptz[], %s::timestamptz[], %s::int[],
    %s::numeric[], %s::int[], %s::numeric[], %s::numeric[], %s::int[], %s::timestamptz[], %s::text[])
ON CONFLICT (player_id) DO UPDATE SET
    deposit_count = a.deposit_count + EXCLUDED.deposit_count,
    deposit_sum = a.deposit_sum + EXCLUDED.deposit_sum,
    first_deposit_at = LEAST(a.first_deposit_at, EXCLUDED.first_deposit_at),
    last_deposit_at = GREATEST(a.last_deposit_at, EXCLUDED.last_deposit_at),
    withdrawal_count = a.withdrawal_count + EXCLUDED.withdrawal_count,
    withdrawal_sum = a.withdrawal_sum + EXCLUDED.withdrawal_sum,
    bet_count = a.bet_count + EXCLUDED.bet_count,
    bet_sum = a.bet_sum + EXCLUDED.bet_sum,
    win_sum = a.win_sum + EXCLUDED.win_sum,
    login_count = a.login_count + EXCLUDED.login_count,
    last_entry_point = CASE
        WHEN EXCLUDED.last_login_at IS NOT NULL
         AND (a.last_login_at IS NULL OR EXCLUDED.last_login_at >= a.last_login_at)
        THEN EXCLUDED.last_entry_point ELSE a.last_entry_point END,
    last_login_at = GREATEST(a.last_login_at, EXCLUDED.last_login_at),
    updated_at = now()
"""
_BETS = {"casino_bet": "bet_amount", "sport_bet_placed": "bet_amount"}
_WINS = {"casino_win": "win_amount", "sport_bet_settled": "win_amount"}


class _Totals:
    __slots__ = ("bet_count", "bet_sum", "dep_count", "dep_first", "dep_last", "dep_sum", "entry_point", "label_id",
                 "login_count", "login_last", "wd_count", "wd_sum", "win_sum")  # fmt: skip

    def __init__(self, label_id: int) -> None:
        self.label_id = label_id
        self.dep_count = self.wd_count = self.bet_count = self.login_count = 0
        self.dep_sum = self.wd_sum = self.bet_sum = self.win_sum = Decimal(0)
        self.dep_first: dt.datetime | None = None
        self.dep_last: dt.datetime | None = None
        self.login_last: dt.datetime | None = None
        self.entry_point = ""

    def add(self, event: EventRow) -> None:
        p, t = event.payload, event.type
        if t == "deposit":
            self.dep_count += 1
            self.dep_sum += Decimal(str(p["deposit_amount"]))
            self.dep_first = min(filter(None, (self.dep_first, event.occurred_at)))
            self.dep_last = max(filter(None, (self.dep_last, event.occurred_at)))
        elif t == "withdrawal":
            self.wd_count += 1
            self.wd_sum += Decimal(str(p["withdrawal_amount"]))
        elif t in _BETS:
            self.bet_count += 1
            self.bet_sum += Decimal(str(p[_BETS[t]]))
        elif t in _WINS:
            self.win_sum += Decimal(str(p.get(_WINS[t]) or 0))
        elif t == "login":
            self.login_count += 1
            if self.login_last is None or event.occurred_at >= self.login_last:
                self.login_last, self.entry_point = event.occurred_at, p.get("entry_point") or ""

    def row(self, player_id: int) -> tuple:
        return (player_id, self.label_id, self.dep_count, self.dep_sum, self.dep_first, self.dep_last, self.wd_count,
                self.wd_sum, self.bet_count, self.bet_sum, self.win_sum, self.login_count, self.login_last,
                self.entry_point)  # fmt: skip


_COUNTED = {"deposit", "withdrawal", "login", *_BETS, *_WINS}


@handler("aggregates", group="crm", order=20)
def update_aggregates(events: list[EventRow]) -> None:
    """Add the batch's deposits, withdrawals, bets, wins and logins to each player's aggregates, in one statement."""
    totals: dict[int, _Totals] = {}
    for event in events:
        if event.type in _COUNTED:
            totals.setdefault(event.player_id, _Totals(event.label_id)).add(event)
    if not totals:
        return
    rows = [totals[pid].row(pid) for pid in sorted(totals)]  # one lock order for every batch: no deadlocks
    with connection.cursor() as cursor:
        cursor.execute(_AGGREGATE_UPSERT, [list(column) for column in zip(*rows, strict=True)])
