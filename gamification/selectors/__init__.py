"""Reads of gamification data, label-scoped: one module per subdomain, re-exported here."""

from gamification.selectors.wallet import store_item_get, store_items_for_player, wallet_entries, wallet_get

__all__ = ["store_item_get", "store_items_for_player", "wallet_entries", "wallet_get"]
