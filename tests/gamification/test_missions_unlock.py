"""The one rule of a locked mission's unlock (`mission_unlock_holds`), which the service, the selectors and the
missions handler all apply to what they read; and the three paths agreeing on one player."""

from __future__ import annotations

import pytest

from gamification.models import Level, Mission, PlayerMission
from gamification.selectors import missions_for_player
from gamification.services.missions import mission_unlock_holds, mission_unlocked
from gamification.services.wallet import wallet_adjust
from tests.gamification.mission_helpers import bet, feed, mission_make

SILVER = Level(pk=7, name="Silver", required_points=1000)


def _locked(**fields) -> Mission:
    return Mission(pk=1, name="Locked", type="locked", **fields)


@pytest.mark.parametrize(
    ("mission", "read", "expected"),
    [
        (Mission(pk=1, name="Open", type="general"), {}, True),
        (_locked(unlock_event_type="deposit"), {}, False),
        (_locked(unlock_event_type="deposit"), {"has_run": True}, True),  # unlocked by an event, persisted as a run
        (_locked(unlock_mission_id=2), {"unlock_mission_done": True}, True),
        (_locked(unlock_event_type="deposit"), {"unlock_mission_done": True}, False),  # it has no unlock mission
        (_locked(unlock_level=SILVER), {"level_points": 1000}, True),
        (_locked(unlock_level=SILVER), {"level_points": 5000}, True),
        (_locked(unlock_level=SILVER), {"level_points": 999}, False),
        (_locked(unlock_level=SILVER), {"level_points": None}, False),
        (_locked(unlock_event_type="deposit"), {"level_points": 5000}, False),  # it has no unlock level
    ],
)
def test_the_unlock_rule(mission, read, expected):
    facts = {"has_run": False, "unlock_mission_done": False, "level_points": None} | read
    assert mission_unlock_holds(mission=mission, **facts) is expected


@pytest.mark.django_db
def test_the_service_the_selector_and_the_handler_agree_on_a_level_unlock(tenant_a):
    level = Level.objects.create(label=tenant_a.label, name="Silver", required_points=10)
    mission = mission_make(tenant_a.label, type="locked", unlock_level=level, tasks=[{"target": 1}])
    player = tenant_a.player
    shown = {m.id: m.state for m in missions_for_player(player=player)}
    assert (mission_unlocked(player=player, mission=mission), shown[mission.pk]) == (False, "locked")
    feed(tenant_a.label, [bet()])  # locked: the bet counts for nothing
    assert not PlayerMission.objects.filter(mission=mission).exists()
    wallet_adjust(player=player, currency="points", amount=10, source="api", key="to-silver")
    shown = {m.id: m.state for m in missions_for_player(player=player)}
    assert (mission_unlocked(player=player, mission=mission), shown[mission.pk]) == (True, "available")
    feed(tenant_a.label, [bet()])
    assert PlayerMission.objects.get(mission=mission).completed_at is not None  # the bet counted, it is done
