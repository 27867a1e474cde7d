"""Gamification: wallet ledger, levels, missions and badges, tournaments, store (later issues)."""

from gamification.models.levels import Level
from gamification.models.wallet import Currency, Wallet, WalletEntry, WalletSource

__all__ = ["Currency", "Level", "Wallet", "WalletEntry", "WalletSource"]
