"""Writes to the wallet: every change is a ledger entry claimed by its unique key, then one guarded UPDATE."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction

from backoffice.errors import Conflict, DomainValidationError, Refused
from crm.models import Player
from gamification.facts import BALANCE_CHANGED, fact_emit
from gamification.models import Currency, Wallet, WalletEntry, WalletSource
from gamification.services.levels import level_recompute

MAX_KEY_LENGTH = 255
MAX_REASON_LENGTH = 500
_BALANCES = ("points", "points_earned", "points_tournament", "gems", "diamonds", "level_id")


class IdempotencyConflict(Conflict):
    default_code = "idempotency_conflict"


class InsufficientBalance(Refused):
    default_code = "insufficient_balance"


class ControlGroup(Refused):
    default_code = "control_group"


@dataclass(frozen=True)
class AdjustResult:
    entry: WalletEntry
    wallet: Wallet
    created: bool  # False when the key was already used: nothing changed


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
) -> AdjustResult:
    """Credit (amount > 0) or debit (amount < 0) one balance of the player, once per `key` within the label.

    A replayed key returns the first entry and changes nothing; a balance never goes below zero. A points credit
    that `counts_as_earned` also raises the ever-earned and tournament balances (and may change the player's
    level, emitted as a `level_changed` fact); a debit touches only spendable. Every change is emitted as a
    `balance_changed` fact in the same transaction.
    """
    _validate(currency=currency, amount=amount, source=source, key=key, reason=reason)
    if amount > 0 and player.ach_gamification_in_control_group:
        raise ControlGroup("The player is in the gamification control group: they earn nothing.")
    earned = counts_as_earned and currency == Currency.POINTS and amount > 0
    with transaction.atomic():
        entry_id = _entry_claim(player, currency, amount, source, key, reason, created_by, earned)
        if entry_id is None:
            return _replay(player, currency=currency, amount=amount, key=key)
        wallet = _balance_apply(player, currency, amount, earned)
        if wallet is None:
            raise InsufficientBalance(f"The player has fewer {currency} than {-amount}.")  # rolls the entry back
        fact_emit(
            player,
            BALANCE_CHANGED,
            f"wallet:{entry_id}",
            {
                "currency": currency,
                "amount": amount,
                "balance": getattr(wallet, currency),
                "source": source,
                "entry_id": entry_id,
            },
        )
        if earned:
            level = level_recompute(player=player, points_earned=wallet.points_earned, entry_id=entry_id)
            wallet.level_id = level.pk if level else wallet.level_id
    return AdjustResult(entry=WalletEntry.objects.get(pk=entry_id), wallet=wallet, created=True)


def _validate(*, currency: str, amount: int, source: str, key: str, reason: str) -> None:
    errors: dict[str, list[str]] = {}
    if currency not in Currency.values:
        errors["currency"] = [f"One of: {', '.join(Currency.values)}."]
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0 or abs(amount) >= 2**62:
        errors["amount"] = ["A non-zero whole number."]
    if source not in WalletSource.values:
        errors["source"] = [f"One of: {', '.join(WalletSource.values)}."]
    if not key or len(key) > MAX_KEY_LENGTH:
        errors["idempotency_key"] = [f"Required, at most {MAX_KEY_LENGTH} characters."]
    if len(reason) > MAX_REASON_LENGTH:
        errors["reason"] = [f"At most {MAX_REASON_LENGTH} characters."]
    if errors:
        raise DomainValidationError(errors)


def _entry_claim(player, currency, amount, source, key, reason, created_by, earned) -> int | None:
    """Insert the entry unless its key exists (a concurrent claim waits for the first to commit or roll back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_walletentry"
            " (label_id, player_id, currency, amount, counts_as_earned, source, key, reason, created_by_id, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, now())"
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
            ],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _balance_apply(player: Player, currency: str, amount: int, earned: bool) -> Wallet | None:
    """Add `amount` in one guarded UPDATE; None (nothing changed) when the balance would go below zero."""
    columns = [currency, "points_earned", "points_tournament"] if earned else [currency]
    assignments = ", ".join(f"{column} = {column} + %s" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_wallet (player_id, label_id, points, points_earned, points_tournament, gems,"
            " diamonds, updated_at) VALUES (%s, %s, 0, 0, 0, 0, 0, now()) ON CONFLICT (player_id) DO NOTHING",
            [player.pk, player.label_id],
        )
        cursor.execute(
            f"UPDATE gamification_wallet SET {assignments}, updated_at = now()"  # noqa: S608 - columns from a whitelist
            f" WHERE player_id = %s AND {currency} + %s >= 0 RETURNING {', '.join(_BALANCES)}",
            [*([amount] * len(columns)), player.pk, amount],
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
