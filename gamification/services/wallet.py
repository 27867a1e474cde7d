"""Writes to the wallet: every change is a ledger entry claimed by its unique key, then one guarded UPDATE.

Automated credits (missions, tournaments, rules, journeys) to a player whose account is not ACTIVE are withheld
when the label's `active_players_only` is on: nothing is credited, a `WithheldCredit` row records it (once per key)
and a log line says so. This is the one backstop every automated source goes through; staff (manual) and the
operator's own API adjustments are applied whatever the status. A credit can be reversed once: the reversal takes
back what it raised (spendable, ever-earned and tournament points), and the level follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from django.db import connection, transaction

from backoffice.errors import Conflict, DomainValidationError, Refused
from backoffice.models import Label
from crm.models import Player
from crm.models.players import AccountStatus
from gamification.facts import BALANCE_CHANGED, fact_emit
from gamification.models import Badge, Currency, Wallet, WalletEntry, WalletSource, WithheldCredit
from gamification.services.levels import level_recompute

log = structlog.get_logger(__name__)

MAX_KEY_LENGTH = 255
MAX_REASON_LENGTH = 500
_BALANCES = ("points", "points_earned", "points_tournament", "gems", "diamonds", "level_id")
# Credits nobody on the operator's side typed: withheld from players whose account is not ACTIVE.
AUTOMATED_SOURCES = frozenset({WalletSource.MISSION, WalletSource.TOURNAMENT, WalletSource.RULE, WalletSource.JOURNEY})
REVERSAL_KEY_PREFIX = "reversal:"


class IdempotencyConflict(Conflict):
    default_code = "idempotency_conflict"


class InsufficientBalance(Refused):
    default_code = "insufficient_balance"


class ControlGroup(Refused):
    default_code = "control_group"


class NotReversible(Refused):
    default_code = "not_reversible"


@dataclass(frozen=True)
class AdjustResult:
    entry: WalletEntry | None  # None when the credit was withheld
    wallet: Wallet
    created: bool  # False when the key was already used or the credit withheld: nothing changed
    withheld: WithheldCredit | None = None  # set when an automated credit was not given (the account is not ACTIVE)


def wallet_adjust(
    *,
    player: Player,
    currency: str,
    amount: int,
    source: str,
    key: str,
    reason: str = "",
    created_by=None,
    counts_as_earned: bool = True,
    refund: bool = False,
) -> AdjustResult:
    """Credit (amount > 0) or debit (amount < 0) one balance of the player, once per `key` within the label.

    A replayed key returns the first entry and changes nothing; a balance never goes below zero. A points credit
    that `counts_as_earned` also raises the ever-earned and tournament balances (and may change the player's
    level, emitted as a `level_changed` fact); a debit touches only spendable. Every change is emitted as a
    `balance_changed` fact in the same transaction. An automated earning (a credit from `AUTOMATED_SOURCES` that
    counts as earned) for a player who is not ACTIVE is withheld (see the module): `withheld` is set, nothing changes.
    A `refund` pays back what the player paid (a store purchase, a tournament buy-in): it never counts as earned, and
    a player moved into the control group since is paid back all the same.
    """
    adjustment_validate(currency=currency, amount=amount, source=source, key=key, reason=reason)
    counts_as_earned = counts_as_earned and not refund
    if amount > 0 and player.ach_gamification_in_control_group and not refund:
        raise ControlGroup("The player is in the gamification control group: they earn nothing.")
    if amount > 0 and counts_as_earned and source in AUTOMATED_SOURCES and earning_withheld_because(player):
        return _withhold(player, currency=currency, amount=amount, source=source, key=key, reason=reason)
    earned = counts_as_earned and currency == Currency.POINTS and amount > 0
    with transaction.atomic():
        entry_id = _entry_claim(player, currency, amount, source, key, reason, created_by, earned)
        if entry_id is None:
            return _replay(player, currency=currency, amount=amount, key=key)
        wallet = _balance_apply(player, currency, amount, earned)
        if wallet is None and amount > 0:  # rolls the entry back
            raise balance_too_large()
        if wallet is None:
            raise InsufficientBalance(f"The player has fewer {currency} than {-amount}.")  # rolls the entry back
        _changed(player, wallet, entry_id=entry_id, currency=currency, amount=amount, source=source, earned=earned)
    return AdjustResult(entry=WalletEntry.objects.get(pk=entry_id), wallet=wallet, created=True)


def wallet_entry_reverse(*, entry: WalletEntry, reason: str, created_by=None) -> AdjustResult:
    """Take back a credit once: the same amount off the same balance and, for points that counted as earned, off
    the ever-earned and tournament points too, so the level drops back (never below a level bought in the store).

    The reversal is an entry of source `reversal` pointing at the credit (key `reversal:<credit id>`), with its
    `balance_changed` fact (a negative amount, source `reversal`) and, when the level drops, a `level_changed` fact.
    Repeating it returns the first reversal. Refused (422) for a debit, a reversal, or when the player has already
    spent part of the credit (a balance never goes below zero).
    """
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise DomainValidationError({"reason": [f"Required, at most {MAX_REASON_LENGTH} characters."]})
    if entry.amount < 0:
        raise NotReversible("Only a credit can be reversed; this entry is a debit.")
    player = Player.objects.get(pk=entry.player_id)
    earned = entry.counts_as_earned and entry.currency == Currency.POINTS
    amount, key = -entry.amount, f"{REVERSAL_KEY_PREFIX}{entry.pk}"
    with transaction.atomic():
        entry_id = _entry_claim(
            player, entry.currency, amount, WalletSource.REVERSAL, key, reason, created_by, earned, reverses=entry.pk
        )
        if entry_id is None:
            return _replay(player, currency=entry.currency, amount=amount, key=key)
        wallet = _balance_apply(player, entry.currency, amount, earned)
        if wallet is None:
            spendable = getattr(Wallet.objects.get(player_id=player.pk), entry.currency)
            raise InsufficientBalance(
                f"The player has {spendable:,} {entry.currency} left, fewer than the {entry.amount:,} to take back."
            )
        _changed(player, wallet, entry_id=entry_id, currency=entry.currency, amount=amount,
                 source=WalletSource.REVERSAL, earned=earned)  # fmt: skip
    return AdjustResult(entry=WalletEntry.objects.get(pk=entry_id), wallet=wallet, created=True)


def earning_withheld_because(player: Player) -> str | None:
    """The player's account status when it stops automated earnings (not ACTIVE, and the label gives such players
    nothing); None when they earn. One query, only for players who are not ACTIVE."""
    status = player.core_account_status
    if status == AccountStatus.ACTIVE:
        return None
    active_only = Label.objects.filter(pk=player.label_id).values_list("active_players_only", flat=True).first()
    return status if active_only else None


@dataclass(frozen=True)
class Withheld:
    """One automated credit a bulk caller (the missions' rewards) did not give: see `credits_withheld_record`.
    A badge award withheld is one with `badge` set, no currency and amount 0."""

    player: Player
    currency: str
    amount: int
    source: str
    key: str
    reason: str = ""
    badge: Badge | None = None


def credits_withheld_record(*, credits: Sequence[Withheld]) -> int:
    """Record credits (and badge awards) a bulk caller withheld from players who are not ACTIVE (it decided with
    `earning_withheld_because`), once per key as `wallet_adjust` does one at a time; return how many were new."""
    rows = [
        WithheldCredit(
            label_id=c.player.label_id,
            player_id=c.player.pk,
            currency="" if c.badge is not None else c.currency,
            amount=0 if c.badge is not None else c.amount,
            badge=c.badge,
            source=c.source,
            key=c.key,
            reason=c.reason[:MAX_REASON_LENGTH],
            account_status=c.player.core_account_status,
        )
        for c in credits
        if c.amount > 0 or c.badge is not None
    ]
    if not rows:
        return 0
    before = WithheldCredit.objects.filter(label_id__in={r.label_id for r in rows}, key__in=[r.key for r in rows])
    known = set(before.values_list("label_id", "key"))
    WithheldCredit.objects.bulk_create(rows, ignore_conflicts=True)
    new = [r for r in rows if (r.label_id, r.key) not in known]
    for r in new:
        if r.badge_id:
            log.info("badge_award_withheld", player_id=r.player_id, source=r.source, badge_id=r.badge_id,
                     account_status=r.account_status)  # fmt: skip
            continue
        log.info("wallet_credit_withheld", player_id=r.player_id, source=r.source, currency=r.currency,
                 amount=r.amount, account_status=r.account_status)  # fmt: skip
    return len(new)


def _withhold(player: Player, *, currency: str, amount: int, source: str, key: str, reason: str) -> AdjustResult:
    """Record the credit as withheld (once per key) and change nothing; a key already applied is a plain replay."""
    if WalletEntry.objects.filter(label_id=player.label_id, key=key).exists():
        return _replay(player, currency=currency, amount=amount, key=key)
    withheld, created = WithheldCredit.objects.get_or_create(
        label_id=player.label_id,
        key=key,
        defaults={
            "player": player,
            "currency": currency,
            "amount": amount,
            "source": source,
            "reason": reason,
            "account_status": player.core_account_status,
        },
    )
    if created:
        log.info("wallet_credit_withheld", player_id=player.pk, source=source, currency=currency, amount=amount,
                 account_status=player.core_account_status)  # fmt: skip
    wallet = Wallet.objects.filter(player_id=player.pk).first() or Wallet(player_id=player.pk, label_id=player.label_id)
    return AdjustResult(entry=None, wallet=wallet, created=False, withheld=withheld)


def _changed(player: Player, wallet: Wallet, *, entry_id: int, currency: str, amount: int, source: str, earned: bool):
    """The change's facts, in its transaction: `balance_changed`, and `level_changed` when the level moved."""
    fact_emit(
        player=player,
        type=BALANCE_CHANGED,
        key=f"wallet:{entry_id}",
        payload={"currency": currency, "amount": amount, "balance": getattr(wallet, currency), "source": source,
         "entry_id": entry_id},
    )  # fmt: skip
    if earned:
        level = level_recompute(player=player, points_earned=wallet.points_earned, entry_id=entry_id)
        wallet.level_id = level.pk if level else wallet.level_id


MAX_BALANCE = 2**62 - 1  # a balance, and the largest single adjustment: their sum still fits PostgreSQL's bigint


def balance_too_large() -> DomainValidationError:
    """The refusal of a credit that would take a balance above MAX_BALANCE (here and in bulk credits)."""
    return DomainValidationError({"amount": [f"The balance would exceed the maximum of {MAX_BALANCE:,}."]})


def adjustment_validate(*, currency: str, amount: int, source: str, key: str, reason: str) -> None:
    errors: dict[str, list[str]] = {}
    if currency not in Currency.values:
        errors["currency"] = [f"One of: {', '.join(Currency.values)}."]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) > MAX_BALANCE:
        errors["amount"] = ["A non-zero whole number."]
    if source not in WalletSource.values:
        errors["source"] = [f"One of: {', '.join(WalletSource.values)}."]
    if not key or len(key) > MAX_KEY_LENGTH:
        errors["idempotency_key"] = [f"Required, at most {MAX_KEY_LENGTH} characters."]
    if len(reason) > MAX_REASON_LENGTH:
        errors["reason"] = [f"At most {MAX_REASON_LENGTH} characters."]
    if errors:
        raise DomainValidationError(errors)


def _entry_claim(player, currency, amount, source, key, reason, created_by, earned, reverses=None) -> int | None:
    """Insert the entry unless its key exists (a concurrent claim waits for the first to commit or roll back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_walletentry (label_id, player_id, currency, amount, counts_as_earned, source,"
            " key, reason, created_by_id, reverses_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
            " ON CONFLICT (label_id, key) DO NOTHING RETURNING id",
            [
                player.label_id,
                player.pk,
                currency,
                amount,
                earned,
                source,
                key,
                reason,
                getattr(created_by, "pk", None),
                reverses,
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _balance_apply(player: Player, currency: str, amount: int, earned: bool) -> Wallet | None:
    """Add `amount` in one guarded UPDATE; None (nothing changed) when a balance would go below zero or above
    MAX_BALANCE (the guard cannot overflow: a balance is at most MAX_BALANCE and an amount below 2**62).

    `earned` moves the ever-earned and tournament points with spendable: up for a credit, down for a reversal."""
    columns = [currency, "points_earned", "points_tournament"] if earned else [currency]
    assignments = ", ".join(f"{column} = {column} + %s" for column in columns)
    guards = " AND ".join(f"{column} + %s BETWEEN 0 AND {MAX_BALANCE}" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_wallet (player_id, label_id, points, points_earned, points_tournament, gems,"
            " diamonds, updated_at) VALUES (%s, %s, 0, 0, 0, 0, 0, now()) ON CONFLICT (player_id) DO NOTHING",
            [player.pk, player.label_id],
        )
        cursor.execute(
            f"UPDATE gamification_wallet SET {assignments}, updated_at = now()"  # noqa: S608 - columns from a whitelist
            f" WHERE player_id = %s AND {guards} RETURNING {', '.join(_BALANCES)}",
            [*([amount] * len(columns)), player.pk, *([amount] * len(columns))],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Wallet(player_id=player.pk, label_id=player.label_id, **dict(zip(_BALANCES, row, strict=True)))


def _replay(player: Player, *, currency: str, amount: int, key: str) -> AdjustResult:
    entry = WalletEntry.objects.get(label_id=player.label_id, key=key)
    if (entry.player_id, entry.currency, entry.amount) != (player.pk, currency, amount):
        raise IdempotencyConflict("This idempotency key was already used for a different adjustment.")
    wallet = Wallet.objects.get(player_id=player.pk)
    return AdjustResult(entry=entry, wallet=wallet, created=False)
