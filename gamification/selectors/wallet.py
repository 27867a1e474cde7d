"""Reads of the wallet and the store, label-scoped."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from backoffice.errors import NotFound
from backoffice.scoping import Actor
from crm.models import Player
from gamification.models import CapPeriod, Level, StoreItem, Wallet, WalletEntry
from gamification.services.audience import audiences_of
from gamification.services.store import cap_period_start


def wallet_get(*, player: Player) -> Wallet:
    """The player's balances; all zero (unsaved) before their first entry."""
    found = Wallet.objects.filter(player_id=player.pk).select_related("level").first()
    return found or Wallet(player_id=player.pk, label_id=player.label_id)


def levels_for_actor(*, actor: Actor) -> QuerySet[Level]:
    """The levels of the actor's labels (one label for an API key), by required points."""
    return Level.objects.for_actor(actor).order_by("label_id", "required_points")


def wallet_entries(*, player: Player) -> QuerySet[WalletEntry]:
    """The player's ledger, newest first, through the (player, -id) index."""
    return WalletEntry.objects.for_label(player.label_id).filter(player_id=player.pk).select_related("created_by")


def store_item_get(*, player: Player, item_id: int) -> StoreItem:
    """An item of the player's label (on sale or not: the purchase says why it refuses); 404 otherwise."""
    item = StoreItem.objects.for_label(player.label_id).filter(pk=item_id).select_related("category").first()
    if item is None or (item.audience_id and not audiences_of(player_id=player.pk, segment_ids=[item.audience_id])):
        raise NotFound("No store item with this id.")  # outside its audience, as if it did not exist
    return item


def store_items_for_player(*, player: Player, now: dt.datetime | None = None) -> list[StoreItem]:
    """Items on sale to the player now, each with `bought_in_period`, `cap_remaining` and `affordable` set."""
    now = now or timezone.now()
    on_sale = (Q(active_from__isnull=True) | Q(active_from__lte=now)) & (
        Q(active_till__isnull=True) | Q(active_till__gt=now)
    )
    in_period = Q(cap_period=CapPeriod.EVER)
    for period in (CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH):
        in_period |= Q(cap_period=period, purchases__created_at__gte=cap_period_start(period=period, now=now))
    bought = Count("purchases", filter=Q(purchases__player_id=player.pk) & in_period)
    items = (
        StoreItem.objects.for_label(player.label_id)
        .filter(on_sale, is_active=True)
        .select_related("category", "target_level", "bonus_template")
        .annotate(bought_in_period=bought)
    )
    allowed = audiences_of(player_id=player.pk, segment_ids={item.audience_id for item in items})
    items = [item for item in items if item.audience_id is None or item.audience_id in allowed]
    wallet = wallet_get(player=player)
    for item in items:
        item.cap_remaining = None if item.cap_count is None else max(item.cap_count - item.bought_in_period, 0)
        item.affordable = getattr(wallet, item.currency) >= item.price
    return list(items)
