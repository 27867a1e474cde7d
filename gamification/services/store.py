"""Store purchases: one transaction claims the key, checks the cap, takes stock, debits the wallet and delivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from backoffice.errors import DomainValidationError, NotFound, Refused
from crm.models import STORE_BONUS_KEY_PREFIX, BonusSource, Player
from crm.services.bonuses import bonus_give
from gamification.facts import STORE_ITEM_PURCHASED, fact_emit
from gamification.models import (
    CapPeriod,
    PurchaseStatus,
    StoreItem,
    StoreItemType,
    StorePurchase,
    Wallet,
    WalletSource,
)
from gamification.services.audience import audience_check
from gamification.services.levels import level_changed_emit
from gamification.services.wallet import MAX_KEY_LENGTH, ControlGroup, IdempotencyConflict, wallet_adjust

KEY_PREFIX = "store:"
REFUND_KEY_PREFIX = "store-refund:"


class ItemInactive(Refused):
    default_code = "inactive"


class LimitReached(Refused):
    default_code = "limit_reached"


class OutOfStock(Refused):
    default_code = "out_of_stock"


class AlreadyAtLevel(Refused):
    default_code = "already_at_level"


@dataclass(frozen=True)
class PurchaseResult:
    purchase: StorePurchase
    created: bool  # False when the key was already used: nothing was bought again


def item_is_on_sale(*, item: StoreItem, now: dt.datetime) -> bool:
    """The flag is on and `now` lies within the item's active dates."""
    started = item.active_from is None or item.active_from <= now
    not_ended = item.active_till is None or now < item.active_till
    return item.is_active and started and not_ended


def cap_period_start(*, period: str, now: dt.datetime) -> dt.datetime | None:
    """Start of the calendar period (UTC) that contains `now`; None for "ever" (every purchase counts)."""
    day = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == CapPeriod.DAY:
        return day
    if period == CapPeriod.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if period == CapPeriod.MONTH:
        return day.replace(day=1)
    return None


def purchases_in_period(*, player: Player, item: StoreItem, now: dt.datetime) -> int:
    """How many times the player bought the item in the current cap period (a refunded purchase does not count)."""
    purchases = StorePurchase.objects.filter(player_id=player.pk, item_id=item.pk).exclude(
        status=PurchaseStatus.REFUNDED
    )
    start = cap_period_start(period=item.cap_period, now=now)
    return purchases.filter(created_at__gte=start).count() if start else purchases.count()


def store_purchase(*, player: Player, item: StoreItem, key: str) -> PurchaseResult:
    """Buy `item` for `player` once per `key`: the debit, the stock, the cap and the delivery commit together.

    A replayed key returns the first purchase. Refusals (422): `inactive`, `control_group`, `limit_reached`,
    `out_of_stock`, `insufficient_balance`, `already_at_level` (a change-level item at or below the player's
    level), and for a bonus item the bonus's own refusals (`account_not_active`, `bonus_cap_reached`,
    `template_inactive`); each rolls everything back (nothing is debited), so the key may be used again later.
    """
    if not key or len(key) > MAX_KEY_LENGTH - len(KEY_PREFIX):
        raise DomainValidationError({"idempotency_key": [f"Required, at most {MAX_KEY_LENGTH} characters."]})
    if item.label_id != player.label_id:
        raise NotFound("No such store item.")
    now = timezone.now()
    with transaction.atomic():
        purchase_id = _purchase_claim(player, item, key)
        if purchase_id is None:
            return _replay(player, item, key)
        if not item_is_on_sale(item=item, now=now):
            raise ItemInactive("The item is not on sale.")
        if player.ach_gamification_in_control_group:
            raise ControlGroup("The player is in the gamification control group: the store is closed to them.")
        audience_check(player_id=player.pk, segment_id=item.audience_id, what="This item")
        _cap_check(player, item, now)
        _stock_take(item)
        entry = wallet_adjust(
            player=player,
            currency=item.currency,
            amount=-item.price,
            source=WalletSource.STORE,
            key=f"{KEY_PREFIX}{key}",
            reason=f"Store: {item.name}"[:500],
        ).entry
        StorePurchase.objects.filter(pk=purchase_id).update(wallet_entry=entry)
        _deliver(player, item, purchase_id)
        fact_emit(
            player=player,
            type=STORE_ITEM_PURCHASED,
            key=f"purchase:{purchase_id}",
            payload={
                "item_id": item.pk,
                "item_name": item.name,
                "price": item.price,
                "currency": item.currency,
                "purchase_id": purchase_id,
            },
        )
    return PurchaseResult(purchase=StorePurchase.objects.select_related("item").get(pk=purchase_id), created=True)


def _purchase_claim(player: Player, item: StoreItem, key: str) -> int | None:
    """Insert the purchase unless its key exists (a concurrent claim waits for the first to commit or roll back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_storepurchase (label_id, player_id, item_id, price, currency, status, key,"
            " created_at) VALUES (%s, %s, %s, %s, %s, 'delivered', %s, now())"
            " ON CONFLICT (label_id, key) DO NOTHING RETURNING id",
            [player.label_id, player.pk, item.pk, item.price, item.currency, key],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(player: Player, item: StoreItem, key: str) -> PurchaseResult:
    purchase = StorePurchase.objects.select_related("item").get(label_id=player.label_id, key=key)
    if (purchase.player_id, purchase.item_id) != (player.pk, item.pk):
        raise IdempotencyConflict("This idempotency key was already used for a different purchase.")
    return PurchaseResult(purchase=purchase, created=False)


def _cap_check(player: Player, item: StoreItem, now: dt.datetime) -> None:
    """Refuse past the cap. The lock makes concurrent purchases of one item by one player count one at a time."""
    if item.cap_count is None:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"store:{player.pk}:{item.pk}"])
    # The count includes the purchase just claimed in this transaction.
    if purchases_in_period(player=player, item=item, now=now) > item.cap_count:
        raise LimitReached(f"The player may buy this item {item.cap_count} time(s) per {item.cap_period}.")


def _stock_take(item: StoreItem) -> None:
    """Take one from the stock in one guarded UPDATE. Unlimited stock is not written: its row lock would queue
    every purchase of the item behind the one before it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_storeitem SET stock = stock - 1 WHERE id = %s AND stock > 0 RETURNING stock",
            [item.pk],
        )
        if cursor.fetchone() is not None:
            return
        cursor.execute("SELECT stock IS NULL FROM gamification_storeitem WHERE id = %s", [item.pk])
        row = cursor.fetchone()
    if row is None or not row[0]:
        raise OutOfStock("The item is out of stock.")


def _deliver(player: Player, item: StoreItem, purchase_id: int) -> None:
    """A level change applies now and stays (the level floor); a bonus is given (the operator is called after commit,
    keyed by the purchase, so it is given once); a tangible item is fulfilled offline."""
    if item.type == StoreItemType.BONUS:
        _bonus_give(player, item, purchase_id)
        return
    if item.type != StoreItemType.CHANGE_LEVEL:
        return
    wallet = (
        Wallet.objects.select_for_update(of=("self",)).select_related("level", "level_floor").get(player_id=player.pk)
    )
    target, previous = item.target_level, wallet.level
    assert target is not None  # a change-level item has one (constraint store_item_target_level_iff_change_level)
    if previous is not None and previous.required_points >= target.required_points:
        raise AlreadyAtLevel(f"The player is already at {previous.name}, at or above {target.name}.")
    wallet.level = target
    if wallet.level_floor is None or target.required_points > wallet.level_floor.required_points:
        wallet.level_floor = target
    wallet.save(update_fields=["level", "level_floor", "updated_at"])
    level_changed_emit(
        player=player, level=target, previous=previous, key=f"level:{player.pk}:{target.pk}:purchase:{purchase_id}"
    )


def _bonus_give(player: Player, item: StoreItem, purchase_id: int) -> None:
    """Give the item's bonus in the purchase's transaction: a refusal (account not ACTIVE, the daily cap, an inactive
    template) rolls the whole purchase back, so the player pays nothing for a bonus they cannot get."""
    assert item.bonus_template is not None  # a bonus item has one (constraint store_item_bonus_template_iff_bonus)
    bonus_give(
        player=player,
        template=item.bonus_template,
        source=BonusSource.STORE,
        key=f"{STORE_BONUS_KEY_PREFIX}{purchase_id}",
        reason=f"Store: {item.name}"[:500],
    )


def store_purchase_refund(*, purchase_id: int, reason: str) -> bool:
    """Pay a purchase back once: its bonus was never issued at the operator (the issue failed for good). The price
    is credited back as a refund (no level, no tournament points), the stock it took is given back, and the purchase
    is marked refunded, so it no longer counts toward the item's cap. Returns whether this call refunded it (False:
    already refunded). Runs in the caller's transaction, with the bonus's final state."""
    with transaction.atomic():
        purchase = (
            StorePurchase.objects.select_for_update(of=("self",))
            .select_related("player")
            .filter(pk=purchase_id)
            .first()
        )
        if purchase is None or purchase.status == PurchaseStatus.REFUNDED:
            return False
        entry = None
        if purchase.price:  # a free item has nothing to pay back
            entry = wallet_adjust(
                player=purchase.player,
                currency=purchase.currency,
                amount=purchase.price,
                source=WalletSource.STORE,
                key=f"{REFUND_KEY_PREFIX}{purchase.pk}",
                reason=reason[:500],
                refund=True,
            ).entry
        StorePurchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.REFUNDED, refund_entry=entry)
        with connection.cursor() as cursor:  # unlimited stock (NULL) stays unlimited
            cursor.execute("UPDATE gamification_storeitem SET stock = stock + 1 WHERE id = %s", [purchase.item_id])
    return True
