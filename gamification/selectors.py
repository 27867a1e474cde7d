"""Reads of gamification data, label-scoped."""

from __future__ import annotations

from crm.models import Player
from gamification.models import Wallet, WalletEntry


def wallet_get(player: Player) -> Wallet:
    """The player's balances; all zero (unsaved) before their first entry."""
    found = Wallet.objects.filter(player_id=player.pk).select_related("level").first()
    return found or Wallet(player_id=player.pk, label_id=player.label_id)


def wallet_entries(player: Player):
    """The player's ledger, newest first, through the (player, -id) index."""
    return WalletEntry.objects.for_label(player.label_id).filter(player_id=player.pk).select_related("created_by")
