"""Mission status and types: the one-way status, opt-in and time limit, recurring cycles, runs, locked unlocking."""

from __future__ import annotations

import datetime as dt

import pytest

from backoffice.errors import DomainError
from crm.models import Event, Player
from crm.pipeline import events_apply
from gamification.models import Level, Mission, MissionTask, PlayerMission
from gamification.selectors import missions_for_player
from gamification.services.missions import mission_claim, mission_opt_in, mission_transition, missions_mark_missed
from gamification.services.wallet import wallet_adjust
from tests.gamification.mission_helpers import bet, event, feed, mission_make

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)  # a Monday


def _code(call) -> DomainError:
    with pytest.raises(DomainError) as exc:
        call()
    return exc.value


def _states(tenant, mission) -> list[tuple[int, str]]:
    return list(
        PlayerMission.objects.filter(player=tenant.player, mission=mission).order_by("run").values_list("run", "state")
    )


def test_status_moves_one_way_draft_active_archived(tenant_a):
    mission = mission_make(tenant_a.label, status="draft")
    assert _code(lambda: mission_transition(mission=mission, to="archived")).code == "invalid_transition"
    mission_transition(mission=mission, to="active")
    assert mission.status == "active"
    assert mission.activated_at
    assert _code(lambda: mission_transition(mission=mission, to="draft")).code == "invalid_transition"
    mission_transition(mission=mission, to="archived")
    assert Mission.objects.get(pk=mission.pk).status == "archived"
    assert _code(lambda: mission_transition(mission=mission, to="active")).code == "invalid_transition"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "locked"}, "unlock_level"),
        ({"type": "recurring"}, "recurring"),
        ({"type": "recurring", "recurrence": "weekdays"}, "recurrence_weekdays"),
        ({"type": "recurring", "recurrence": "days_of_month"}, "recurrence_month_days"),
        ({"time_limit": dt.timedelta(hours=1)}, "time_limit"),
        ({"active_from": T, "active_till": T - dt.timedelta(days=1)}, "active_till"),
    ],
)
def test_activation_names_what_is_missing(tenant_a, fields, field):
    mission = Mission.objects.create(label=tenant_a.label, name="Incomplete", **fields)
    MissionTask.objects.create(mission=mission, name="t", event_type="login", target=1)
    error = _code(lambda: mission_transition(mission=mission, to="active"))
    assert error.code == "incomplete"
    assert (field if field != "recurring" else "recurrence") in error.errors
    assert Mission.objects.get(pk=mission.pk).status == "draft"


def test_a_mission_without_tasks_cannot_be_activated(tenant_a):
    mission = Mission.objects.create(label=tenant_a.label, name="Empty")
    assert "tasks" in _code(lambda: mission_transition(mission=mission, to="active")).errors


def test_opt_in_starts_the_count_and_the_time_limit_ends_it_as_missed(tenant_a):
    mission = mission_make(
        tenant_a.label, tasks=[{"target": 3}], requires_opt_in=True, time_limit=dt.timedelta(hours=2)
    )
    feed(tenant_a.label, [bet(at="2026-01-05T10:00:00Z")])  # before the opt-in: not counted
    assert not PlayerMission.objects.filter(mission=mission).exists()
    assert missions_for_player(player=tenant_a.player, now=T)[0].state == "available"
    pm = mission_opt_in(player=tenant_a.player, mission=mission, now=T)
    assert pm.expires_at == T + dt.timedelta(hours=2)
    assert (
        mission_opt_in(player=tenant_a.player, mission=mission, now=T + dt.timedelta(minutes=5)).pk == pm.pk
    )  # again: nothing
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z"), bet(at="2026-01-05T13:30:00Z")])  # the second is too late
    pm.refresh_from_db()
    assert list(pm.progress.values()) == ["1"]
    later = T + dt.timedelta(hours=3)
    assert missions_for_player(player=tenant_a.player, now=later)[0].state == "missed"  # right before the beat runs
    assert missions_mark_missed(now=later) == 1
    assert _states(tenant_a, mission) == [(1, "missed")]
    assert _code(lambda: mission_opt_in(player=tenant_a.player, mission=mission, now=later)).code == "already_finished"


def test_control_group_players_cannot_opt_in(tenant_a):
    mission = mission_make(tenant_a.label, requires_opt_in=True)
    Player.objects.filter(pk=tenant_a.player.pk).update(ach_gamification_in_control_group=True)
    tenant_a.player.refresh_from_db()
    assert _code(lambda: mission_opt_in(player=tenant_a.player, mission=mission, now=T)).code == "control_group"
    assert not PlayerMission.objects.exists()


def test_a_daily_mission_starts_over_each_day_of_the_labels_time_zone(tenant_a):
    tenant_a.label.time_zone = "Europe/Malta"  # UTC+1 in January
    tenant_a.label.save()
    mission = mission_make(tenant_a.label, tasks=[{"target": 2}], type="recurring", recurrence="daily")
    feed(tenant_a.label, [bet(at="2026-01-05T22:30:00Z"), bet(at="2026-01-05T23:30:00Z")])  # 23:30 and 00:30 local
    runs = dict(PlayerMission.objects.filter(mission=mission).values_list("cycle", "state"))
    assert runs == {"2026-01-05": "in_progress", "2026-01-06": "in_progress"}
    view = missions_for_player(player=tenant_a.player, now=dt.datetime(2026, 1, 6, 9, tzinfo=dt.UTC))[0]
    assert (view.cycle, view.tasks[0].value) == ("2026-01-06", 1)
    assert missions_mark_missed(now=dt.datetime(2026, 1, 6, 9, tzinfo=dt.UTC)) == 1  # yesterday's unfinished run


def test_a_weekday_mission_is_closed_on_other_days(tenant_a):
    mission = mission_make(tenant_a.label, type="recurring", recurrence="weekdays", recurrence_weekdays=[0])
    feed(tenant_a.label, [bet(at="2026-01-06T12:00:00Z")])  # a Tuesday
    assert not PlayerMission.objects.filter(mission=mission).exists()
    assert missions_for_player(player=tenant_a.player, now=dt.datetime(2026, 1, 6, 12, tzinfo=dt.UTC)) == []
    feed(tenant_a.label, [bet(at="2026-01-12T12:00:00Z")])  # the next Monday
    assert _states(tenant_a, mission) == [(1, "in_progress")]
    monthly = mission_make(tenant_a.label, type="recurring", recurrence="days_of_month", recurrence_month_days=[12])
    assert PlayerMission.objects.filter(mission=monthly).count() == 0
    feed(tenant_a.label, [bet(at="2026-01-12T13:00:00Z")])
    assert PlayerMission.objects.get(mission=monthly).cycle == "2026-01-12"


def test_a_mission_recurring_on_completion_runs_up_to_its_maximum(tenant_a):
    mission = mission_make(
        tenant_a.label, tasks=[{"target": 1}], type="recurring_on_completion", max_completions=2, reward_points=10
    )
    for _ in range(3):
        feed(tenant_a.label, [bet()])
    assert _states(tenant_a, mission) == [(1, "claimed"), (2, "claimed")]
    assert Event.objects.filter(player=tenant_a.player, type="mission_completed").count() == 2
    assert Player.objects.get(pk=tenant_a.player.pk).wallet.points == 20


def test_with_a_claim_the_next_run_waits_for_it(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], type="recurring_on_completion", claim_required=True)
    feed(tenant_a.label, [bet()])
    feed(tenant_a.label, [bet()])
    assert _states(tenant_a, mission) == [(1, "completed")]
    mission_claim(player=tenant_a.player, mission=mission)
    assert missions_for_player(player=tenant_a.player)[0].state == "available"
    feed(tenant_a.label, [bet()])
    assert _states(tenant_a, mission) == [(1, "claimed"), (2, "completed")]


def test_a_locked_mission_unlocks_by_reaching_its_level(tenant_a):
    gold = Level.objects.create(label=tenant_a.label, name="Gold", required_points=100)
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}], type="locked", unlock_level=gold)
    feed(tenant_a.label, [bet()])
    assert missions_for_player(player=tenant_a.player)[0].state == "locked"
    assert not PlayerMission.objects.filter(mission=mission).exists()
    wallet_adjust(player=tenant_a.player, currency="points", amount=100, source="manual", key="lift")
    assert missions_for_player(player=tenant_a.player)[0].state == "available"  # computed on read
    events_apply(list(Event.objects.filter(type="level_changed").values_list("pk", flat=True)))
    assert PlayerMission.objects.get(mission=mission).unlocked_at is not None  # persisted by the level fact
    feed(tenant_a.label, [bet()])
    assert missions_for_player(player=tenant_a.player)[0].state == "in_progress"


def test_a_locked_mission_unlocks_by_completing_its_mission(tenant_a):
    first = mission_make(tenant_a.label, tasks=[{"target": 1}], position=1)
    second = mission_make(tenant_a.label, tasks=[{"target": 1}], type="locked", unlock_mission=first, position=2)
    assert [v.state for v in missions_for_player(player=tenant_a.player)] == ["available", "locked"]
    feed(tenant_a.label, [bet()])
    assert PlayerMission.objects.get(mission=second).unlocked_at is not None
    assert [v.state for v in missions_for_player(player=tenant_a.player)] == ["claimed", "available"]
    feed(tenant_a.label, [bet()])
    assert [v.state for v in missions_for_player(player=tenant_a.player)] == ["claimed", "claimed"]


def test_a_locked_mission_unlocks_by_a_matching_event(tenant_a):
    mission = mission_make(
        tenant_a.label,
        tasks=[{"target": 1}],
        type="locked",
        unlock_event_type="deposit",
        unlock_event_conditions=[{"field": "deposit_amount", "op": "gte", "value": 50}],
    )
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 10})])
    assert missions_for_player(player=tenant_a.player)[0].state == "locked"
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 60})])
    assert [(v.id, v.state) for v in missions_for_player(player=tenant_a.player)] == [(mission.pk, "available")]
    feed(tenant_a.label, [bet()])
    assert _states(tenant_a, mission) == [(1, "claimed")]


def test_without_a_start_date_only_events_after_the_activation_count(tenant_a):
    from django.utils import timezone

    mission = mission_make(tenant_a.label, tasks=[{"target": 2}], active_from=None)
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])  # before the activation (a late event)
    assert not PlayerMission.objects.filter(mission=mission).exists()
    feed(tenant_a.label, [bet(at=timezone.now().isoformat())])
    assert _states(tenant_a, mission) == [(1, "in_progress")]


def test_a_claim_takes_the_completed_run_even_when_the_next_day_has_started(tenant_a):
    mission = mission_make(
        tenant_a.label, tasks=[{"target": 1}], type="recurring", recurrence="daily", claim_required=True, reward_gems=2
    )
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z"), bet(at="2026-01-06T12:00:00Z")])
    assert mission_claim(player=tenant_a.player, mission=mission).player_mission.cycle == "2026-01-06"
    assert mission_claim(player=tenant_a.player, mission=mission).player_mission.cycle == "2026-01-05"
    replay = mission_claim(player=tenant_a.player, mission=mission)
    assert (replay.created, replay.player_mission.cycle) == (False, "2026-01-06")
    assert Player.objects.get(pk=tenant_a.player.pk).wallet.gems == 4
