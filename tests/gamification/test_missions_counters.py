"""Missions count on shared counters: one per player and kind of task (event type, conditions, counted value) and
cycle, each run's progress read as its counter less the counter's value when the run started counting."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from gamification.handlers.mission_config import missions_cache_clear
from gamification.models import MissionProgress, PlayerMission, window_key
from gamification.services.missions import mission_opt_in, missions_mark_missed
from tests.gamification.mission_helpers import bet, feed, mission_make

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC)


def _progress(tenant, mission) -> dict:
    return PlayerMission.objects.get(player=tenant.player, mission=mission).progress


def _document(tenant) -> MissionProgress:
    return MissionProgress.objects.get(player=tenant.player)


def test_missions_on_the_same_task_share_one_counter_and_each_counts_from_its_own_start(tenant_a):
    first = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_a.label, [bet(), bet()])
    second = mission_make(tenant_a.label, tasks=[{"target": 5}])  # the same task, activated after two bets
    missions_cache_clear()
    feed(tenant_a.label, [bet()])
    [task_1], [task_2] = first.tasks.all(), second.tasks.all()
    assert (_progress(tenant_a, first), _progress(tenant_a, second)) == ({str(task_1.pk): "3"}, {str(task_2.pk): "1"})
    document = _document(tenant_a)
    [(key, value)] = document.counters.items()
    assert (key.endswith(":"), value) == (True, "3")  # one counter for both: missions without cycles count on ""
    feed(tenant_a.label, [bet(), bet()])  # the first completes; the second goes on from the same counter
    assert PlayerMission.objects.get(mission=first).state == "claimed"
    assert PlayerMission.objects.get(mission=first).progress == {str(task_1.pk): "5"}
    assert _progress(tenant_a, second) == {str(task_2.pk): "3"}


def test_a_batch_with_events_before_and_after_an_opt_in_counts_those_after(tenant_a):
    counted = mission_make(tenant_a.label, tasks=[{"target": 9}])  # counts every bet on the same counter
    opt_in = mission_make(tenant_a.label, tasks=[{"target": 5}], requires_opt_in=True, time_limit=dt.timedelta(hours=2))
    feed(tenant_a.label, [bet(at="2026-01-05T09:00:00Z")])
    mission_opt_in(player=tenant_a.player, mission=opt_in, now=T)
    # one batch: one bet before the opt-in, two within the time limit, one past it
    at = ["2026-01-05T10:00:00Z", "2026-01-05T11:30:00Z", "2026-01-05T12:00:00Z", "2026-01-05T13:30:00Z"]
    feed(tenant_a.label, [bet(at=moment) for moment in at])
    [task] = opt_in.tasks.all()
    assert _progress(tenant_a, opt_in) == {str(task.pk): "2"}
    assert list(_progress(tenant_a, counted).values()) == ["5"]
    feed(tenant_a.label, [bet(at="2026-01-05T12:30:00Z")])  # late, but within the limit: counted
    assert _progress(tenant_a, opt_in) == {str(task.pk): "3"}
    assert missions_mark_missed(now=T + dt.timedelta(hours=3)) == 1  # the progress moves onto the run's row
    pm = PlayerMission.objects.get(mission=opt_in)
    assert (pm.state, pm.stored_progress) == ("missed", {str(task.pk): "3"})
    assert list(_progress(tenant_a, counted).values()) == ["6"]


def test_a_run_written_before_counters_goes_on_from_its_value(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_a.label, [bet()])
    [task] = mission.tasks.all()
    pm = PlayerMission.objects.get(mission=mission)
    # the document as the handler wrote it before counters: the value in "p", no counter
    MissionProgress.objects.filter(player=tenant_a.player).update(
        runs={f"{mission.pk}:": {"r": 1, "p": {str(task.pk): "3"}, "i": pm.pk}}, counters={}
    )
    assert _progress(tenant_a, mission) == {str(task.pk): "3"}
    feed(tenant_a.label, [bet()])
    assert _progress(tenant_a, mission) == {str(task.pk): "4"}
    feed(tenant_a.label, [bet()])
    pm.refresh_from_db()
    assert (pm.state, pm.stored_progress) == ("claimed", {str(task.pk): "5"})


def test_a_sum_counts_money_exactly_and_shows_at_most_the_target(tenant_a):
    sums = {"aggregation": "sum", "sum_field": "bet_amount", "conditions": []}
    mission = mission_make(tenant_a.label, tasks=[{"target": 10, **sums}])
    other = mission_make(tenant_a.label, tasks=[{"target": 100, **sums}])
    feed(tenant_a.label, [bet(amount=0.1), bet(amount=0.2), bet(amount=2.05)])
    [task] = other.tasks.all()
    assert _progress(tenant_a, other) == {str(task.pk): "2.35"}  # decimal, not 2.3500000000000001
    feed(tenant_a.label, [bet(amount=9)])
    pm = PlayerMission.objects.get(mission=mission)
    assert (pm.state, list(pm.stored_progress.values())) == ("claimed", ["10"])  # 11.35 counted, 10 of 10 shown
    assert _progress(tenant_a, other) == {str(task.pk): "11.35"}


def test_counters_of_past_days_are_dropped_once_no_run_counts_on_them(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}], type="recurring", recurrence="daily")
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])  # a day long past (the tests run later)
    document = _document(tenant_a)
    [key] = document.counters
    assert key.endswith(":2026-01-05")
    feed(tenant_a.label, [bet(at="2026-01-06T12:00:00Z")])  # yesterday's run is still open: its counter stays
    assert sorted(c.rpartition(":")[2] for c in _document(tenant_a).counters) == ["2026-01-05", "2026-01-06"]
    assert missions_mark_missed(now=dt.datetime(2026, 1, 7, 9, tzinfo=dt.UTC)) == 2
    now = timezone.now()
    feed(tenant_a.label, [bet(at=now.isoformat())])  # today's run starts; the past days' counters go
    [key] = _document(tenant_a).counters
    assert key.rpartition(":")[2] == now.date().isoformat()
    states = dict(PlayerMission.objects.filter(mission=mission).values_list("cycle", "state"))
    assert states == {"2026-01-05": "missed", "2026-01-06": "missed", now.date().isoformat(): "in_progress"}
    assert [pm.stored_progress for pm in PlayerMission.objects.filter(mission=mission, state="missed")] == [
        {str(mission.tasks.get().pk): "1"}
    ] * 2


def test_a_window_takes_events_out_of_order_and_drops_those_older_than_its_newest_allows(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 4, "window": dt.timedelta(hours=1)}])
    [task] = mission.tasks.all()
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z"), bet(at="2026-01-05T12:50:00Z")])
    # one batch, out of order: 11:40 is more than an hour before 12:50 (dropped), 12:10 and 12:05 are within
    feed(
        tenant_a.label, [bet(at=at) for at in ("2026-01-05T11:40:00Z", "2026-01-05T12:10:00Z", "2026-01-05T12:05:00Z")]
    )
    pm = PlayerMission.objects.get(mission=mission)
    assert (pm.state, pm.stored_progress) == ("claimed", {str(task.pk): "4"})  # 12:00, 12:05, 12:10, 12:50


def test_a_window_drops_what_its_newest_event_leaves_behind(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 5, "window": dt.timedelta(minutes=30)}])
    [task] = mission.tasks.all()
    feed(tenant_a.label, [bet(at=f"2026-01-05T12:{m:02d}:00Z") for m in (0, 10, 20)])
    feed(tenant_a.label, [bet(at="2026-01-05T12:45:00Z"), bet(at="2026-01-05T12:05:00Z")])  # 12:05: already outside
    assert _progress(tenant_a, mission) == {str(task.pk): "2"}  # 12:20 and 12:45
    document = _document(tenant_a)
    key = window_key(task.counter, task.window, "")
    assert document.runs[f"{mission.pk}:"]["k"] == {str(task.pk): [key, []]}  # it leaves nothing out
    windows = document.windows[key]
    assert [item[1] for item in windows] == ["1", "1"]
