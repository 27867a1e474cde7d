"""Reads of gamification data, label-scoped: one module per subdomain, re-exported here."""

from gamification.selectors.missions import (
    BadgeView,
    MissionView,
    TaskView,
    badge_get,
    badges_for_player,
    mission_get,
    missions_for_player,
)
from gamification.selectors.tournaments import (
    Leaderboard,
    PlayerTournament,
    tournament_instance_get,
    tournament_instances,
    tournament_leaderboard,
    tournaments_for_player,
)
from gamification.selectors.wallet import (
    levels_for_actor,
    store_item_get,
    store_items_for_player,
    wallet_entries,
    wallet_get,
)

__all__ = [
    "BadgeView",
    "Leaderboard",
    "MissionView",
    "PlayerTournament",
    "TaskView",
    "badge_get",
    "badges_for_player",
    "levels_for_actor",
    "mission_get",
    "missions_for_player",
    "store_item_get",
    "store_items_for_player",
    "tournament_instance_get",
    "tournament_instances",
    "tournament_leaderboard",
    "tournaments_for_player",
    "wallet_entries",
    "wallet_get",
]
