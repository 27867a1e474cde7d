"""A player's whole gamification state, from one selector: what the API serves and the read-only widget renders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.utils import timezone

from crm.models import Player
from gamification.models import Level, StoreItem, Wallet
from gamification.selectors.missions import BadgeView, MissionView, badges_for_player, missions_for_player
from gamification.selectors.tournaments import PlayerTournament, tournaments_for_player
from gamification.selectors.wallet import store_items_for_player, wallet_get


@dataclass(frozen=True)
class LevelProgress:
    current: Level | None
    next: Level | None
    points_earned: int
    points_to_next: int | None  # None at the top level
    percent: int  # 0-100 of the way from the current level's points to the next level's


@dataclass(frozen=True)
class GamificationState:
    player: Player
    in_control_group: bool
    wallet: Wallet
    level: LevelProgress
    missions: list[MissionView] = field(default_factory=list)
    badges: list[BadgeView] = field(default_factory=list)
    tournaments: list[PlayerTournament] = field(default_factory=list)
    store: list[StoreItem] = field(default_factory=list)


def level_progress(*, wallet: Wallet) -> LevelProgress:
    """Where the player stands between their level and the next one up (by ever-earned points)."""
    current = wallet.level
    floor = current.required_points if current else 0
    next_level = Level.objects.for_label(wallet.label_id).filter(required_points__gt=floor).order_by("required_points")
    nxt = next_level.first()
    if nxt is None:
        return LevelProgress(current, None, wallet.points_earned, None, 100)
    span = nxt.required_points - floor
    done = min(max(wallet.points_earned - floor, 0), span)
    return LevelProgress(
        current, nxt, wallet.points_earned, max(nxt.required_points - wallet.points_earned, 0), done * 100 // span
    )


def gamification_state(*, player: Player, now: dt.datetime | None = None) -> GamificationState:
    """Balances, level and progress, missions with states and progress, badges, tournaments with rank, and the store.

    A control-group player sees no gamification: the flag is set and every list is empty.
    """
    now = now or timezone.now()
    wallet = wallet_get(player=player)  # with its level
    progress = level_progress(wallet=wallet)
    if player.ach_gamification_in_control_group:
        return GamificationState(player, True, wallet, progress)
    return GamificationState(
        player=player,
        in_control_group=False,
        wallet=wallet,
        level=progress,
        missions=missions_for_player(player=player, now=now),
        badges=badges_for_player(player=player),
        tournaments=tournaments_for_player(player=player, now=now),
        store=store_items_for_player(player=player, now=now),
    )
