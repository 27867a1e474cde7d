"""Making missions and feeding events through the real pipeline, for the missions and badges tests."""

from __future__ import annotations

import datetime as dt
import itertools

from django.utils import timezone

from crm.pipeline import events_apply
from crm.services.ingest import events_ingest
from gamification.handlers.mission_config import missions_cache_clear
from gamification.models import Mission, MissionStatus, MissionTask
from gamification.selectors import missions_for_player

SLOT_BETS = [{"field": "game_category", "op": "eq", "value": "slots"}, {"field": "bet_amount", "op": "gte", "value": 1}]
OPEN_FROM = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
_ids = itertools.count(1)


def mission_make(label, *, tasks=None, status=MissionStatus.ACTIVE, **fields) -> Mission:
    """A mission with `tasks` (default: one task, 3 casino bets on slots of at least 1.00), activated by default."""
    fields.setdefault("active_from", OPEN_FROM)  # the events of the tests happen in 2026, before activation
    mission = Mission.objects.create(label=label, name=fields.pop("name", f"Mission {next(_ids)}"), **fields)
    for position, task in enumerate(tasks or [{"target": 3}]):
        MissionTask.objects.create(
            mission=mission,
            position=position,
            name=task.get("name", f"Task {position}"),
            event_type=task.get("event_type", "casino_bet"),
            conditions=task.get("conditions", SLOT_BETS),
            aggregation=task.get("aggregation", "count"),
            sum_field=task.get("sum_field", ""),
            target=task["target"],
            window=task.get("window"),
        )
    if status != MissionStatus.DRAFT:
        from gamification.services.missions import mission_transition

        mission_transition(mission=mission, to=MissionStatus.ACTIVE)
        if status == MissionStatus.ARCHIVED:
            mission_transition(mission=mission, to=MissionStatus.ARCHIVED)
    return mission


def bet(event_id=None, *, amount=2.0, category="slots", at="2026-01-05T12:00:00Z", user="shared-player") -> dict:
    return {
        "event_id": event_id or f"bet-{next(_ids)}",
        "type": "casino_bet",
        "ext_brand_id": "shared-brand",
        "user_ext_id": user,
        "occurred_at": at,
        "payload": {"bet_amount": amount, "game_id": "g1", "game_name": "Book", "game_category": category},
    }


def event(type_, payload=None, *, event_id=None, at="2026-01-05T12:00:00Z", user="shared-player") -> dict:
    return {
        "event_id": event_id or f"{type_}-{next(_ids)}",
        "type": type_,
        "ext_brand_id": "shared-brand",
        "user_ext_id": user,
        "occurred_at": at,
        "payload": payload or {},
    }


def feed(label, items: list[dict]) -> list[int]:
    """Ingest `items` as a partner would and run the pipeline on them (and on the facts they produce)."""
    result = events_ingest(label=label, items=items, source="api")
    assert not [i for i in result.items if i.status == "invalid"], [i.errors for i in result.items]
    events_apply(result.new_ids)
    return result.new_ids


def settled(mission: Mission, ago=dt.timedelta(minutes=2)) -> Mission:
    """The mission as activated `ago`: past the minute after which new counters and windows let its runs count from
    0, without rows."""
    Mission.objects.filter(pk=mission.pk).update(activated_at=timezone.now() - ago)
    missions_cache_clear()
    mission.refresh_from_db()
    return mission


def shown(tenant, mission) -> tuple[str, list[str]]:
    """The mission as the player's missions show it: its state and its tasks' values."""
    [view] = [m for m in missions_for_player(player=tenant.player) if m.id == mission.pk]
    return view.state, [str(task.value) for task in view.tasks]
