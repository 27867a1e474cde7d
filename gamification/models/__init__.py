"""Gamification: wallet ledger, levels, missions and badges, tournaments, store (later issues)."""

from gamification.models.levels import Level
from gamification.models.store import (
    CapPeriod,
    PurchaseStatus,
    StoreCategory,
    StoreItem,
    StoreItemType,
    StorePurchase,
)
from gamification.models.wallet import Currency, Wallet, WalletEntry, WalletSource

__all__ = [
    "CapPeriod",
    "Currency",
    "Level",
    "PurchaseStatus",
    "StoreCategory",
    "StoreItem",
    "StoreItemType",
    "StorePurchase",
    "Wallet",
    "WalletEntry",
    "WalletSource",
]
