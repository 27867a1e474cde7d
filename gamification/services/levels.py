"""A player's level follows their ever-earned points; a change is emitted as a `level_changed` fact."""

from __future__ import annotations

from django.db import connection

from crm.models import Player
from gamification.facts import LEVEL_CHANGED, Fact, fact_emit
from gamification.models import Level


def level_for(*, label_id: int, points_earned: int) -> Level | None:
    """The highest level the points reach, else the label's default level (None when the label has no levels)."""
    levels = Level.objects.for_label(label_id)
    reached = levels.filter(required_points__lte=points_earned).order_by("-required_points").first()
    return reached or levels.filter(is_default=True).first()


def level_recompute(*, player: Player, points_earned: int, entry_id: int) -> Level | None:
    """Set the player's level from `points_earned`, never below a level bought in the store (inside the caller's
    transaction, with the wallet row locked).

    Returns the new level when it changed, else None; the `level_changed` fact commits with the change.
    """
    level = level_for(label_id=player.label_id, points_earned=points_earned)
    floor = Level.objects.filter(wallets_floored__player_id=player.pk).first()
    if floor is not None and (level is None or floor.required_points > level.required_points):
        level = floor  # a level bought in the store is kept until the points pass it
    new_id = level.pk if level else None
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_wallet AS w SET level_id = %s FROM gamification_wallet AS old"
            " WHERE w.player_id = %s AND old.player_id = w.player_id AND w.level_id IS DISTINCT FROM %s"
            " RETURNING old.level_id",
            [new_id, player.pk, new_id],
        )
        row = cursor.fetchone()
    if row is None or level is None:
        return None
    previous = Level.objects.filter(pk=row[0]).first() if row[0] else None
    level_changed_emit(player=player, level=level, previous=previous, key=f"level:{player.pk}:{level.pk}:{entry_id}")
    return level


def level_changed_emit(*, player: Player, level: Level, previous: Level | None, key: str) -> None:
    """Emit `level_changed` for `player` reaching `level` from `previous`, once per `key`, in the open transaction."""
    fact = level_changed_fact(player=player, level=level, previous=previous, key=key)
    fact_emit(player=player, type=fact.type, key=fact.key, payload=fact.payload)


def level_changed_fact(*, player: Player, level: Level, previous: Level | None, key: str) -> Fact:
    """The `level_changed` fact of `player` reaching `level` from `previous`, for a caller emitting facts in bulk."""
    payload = {"level_id": level.pk, "level_name": level.name}
    if previous is not None:
        payload |= {"previous_level_id": previous.pk, "previous_level_name": previous.name}
    return Fact(player, LEVEL_CHANGED, key, payload)
