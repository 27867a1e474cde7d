"""Shared builders of the store tests."""

from __future__ import annotations

from gamification.models import StoreItem
from gamification.services.wallet import wallet_adjust


def item_make(label, **fields) -> StoreItem:
    defaults = {"name": "T-shirt", "type": "tangible", "price": 10, "currency": "points"}
    return StoreItem.objects.create(label=label, **(defaults | fields))


def fund(player, amount: int, currency: str = "points", key: str = "fund") -> None:
    wallet_adjust(player=player, currency=currency, amount=amount, source="api", key=key)
