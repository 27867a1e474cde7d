"""Giving a mission from a rule: open a run of it for the player (unlocking a locked mission, opting in to one that
needs an opt-in), as an unlock by event does."""

from __future__ import annotations

import datetime as dt

from django.db import connection

from backoffice.errors import NotFound
from crm.models import Player


def mission_give(*, player: Player, mission_id: int, at: dt.datetime) -> bool:
    """Open the mission's current run for the player; False when they already have one in this cycle (a replay, or
    the mission was given before). Refused (422) when the mission is not open (`not_open`)."""
    from gamification.models import Mission
    from gamification.services.missions import MissionNotOpen, mission_cycle, mission_is_open

    mission = Mission.objects.select_related("label").filter(pk=mission_id, label_id=player.label_id).first()
    if mission is None:
        raise NotFound("No such mission.")
    now = dt.datetime.now(dt.UTC)
    cycle = mission_cycle(mission=mission, tz_name=mission.label.time_zone, at=now)
    if not mission_is_open(mission=mission, at=now) or cycle is None:
        raise MissionNotOpen("The mission is not open now.")
    state, opted = ("in_progress", "now()") if mission.requires_opt_in else ("available", "NULL")
    expires = "now() + %s" if mission.requires_opt_in and mission.time_limit else "NULL"
    params = [player.label_id, player.pk, mission.pk, cycle, state]
    if expires != "NULL":
        params.append(mission.time_limit)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state, progress,"  # noqa: S608
            f" unlocked_at, opted_in_at, expires_at, created_at, updated_at)"
            f" VALUES (%s, %s, %s, %s, 1, %s, '{{}}', now(), {opted}, {expires}, now(), now())"
            " ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING",
            params,
        )
        return cursor.rowcount == 1
