"""Windowed tasks share their windows: one per player, kind of task, span and cycle (`MissionProgress.windows`).
Each run counts what its window holds less the events it leaves out (held before it started counting, before its
opt-in, past its time limit); a run of a mission that counts without rows counts all of it, with no entry and no row
until it completes. Entries written before windows were shared move their events into the shared window."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.urls import reverse

from gamification.handlers.mission_config import missions_cache_clear
from gamification.models import MissionProgress, PlayerMission, TaskContribution, Wallet, window_key
from gamification.services.missions import mission_opt_in, missions_mark_missed
from tests.gamification.mission_helpers import bet, event, feed, mission_make, settled, shown

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("both_paths")]
HOUR = dt.timedelta(hours=1)
LIST = "admin:gamification_mission_changelist"


def _at(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def _document(tenant) -> MissionProgress:
    return MissionProgress.objects.get(player=tenant.player)


def _held(mission, player) -> list[int]:
    """The event ids the view shows the player's open run of the mission counting."""
    rows = TaskContribution.objects.filter(player_mission__mission=mission, player_mission__player=player)
    rows = rows.order_by("occurred_at", "event_id")
    return list(rows.values_list("event_id", flat=True))


def test_missions_of_one_kind_and_span_share_one_window(tenant_a):
    small = mission_make(tenant_a.label, tasks=[{"target": 3, "window": HOUR}])
    large = mission_make(tenant_a.label, tasks=[{"target": 5, "window": HOUR}])
    shorter = mission_make(tenant_a.label, tasks=[{"target": 5, "window": dt.timedelta(minutes=30)}])
    ids = feed(tenant_a.label, [bet(at=f"2026-01-05T12:{m:02d}:00Z") for m in (0, 20, 40)])
    assert shown(tenant_a, small) == ("claimed", ["3"])
    assert shown(tenant_a, large) == ("in_progress", ["3"])
    assert shown(tenant_a, shorter) == ("in_progress", ["2"])  # 12:00 is more than 30 minutes before 12:40
    [task] = large.tasks.all()
    document = _document(tenant_a)
    assert sorted(document.windows) == sorted(
        [window_key(task.counter, HOUR, ""), window_key(task.counter, dt.timedelta(minutes=30), "")]
    )
    assert [item[2] for item in document.windows[window_key(task.counter, HOUR, "")]] == ids
    assert document.runs[f"{large.pk}:"]["k"] == {str(task.pk): [window_key(task.counter, HOUR, ""), []]}
    assert (_held(large, tenant_a.player), _held(shorter, tenant_a.player), _held(small, tenant_a.player)) == (
        ids,
        ids[1:],
        [],
    )


def test_a_run_started_after_its_window_held_events_counts_only_the_later_ones(tenant_a):
    first = mission_make(tenant_a.label, tasks=[{"target": 5, "window": HOUR}])
    earlier = feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z"), bet(at="2026-01-05T12:10:00Z")])
    second = mission_make(tenant_a.label, tasks=[{"target": 3, "window": HOUR}])  # activated after two bets
    missions_cache_clear()
    [later] = feed(tenant_a.label, [bet(at="2026-01-05T12:20:00Z")])
    assert (shown(tenant_a, first), shown(tenant_a, second)) == (("in_progress", ["3"]), ("in_progress", ["1"]))
    [task] = second.tasks.all()
    key = window_key(task.counter, HOUR, "")
    assert _document(tenant_a).runs[f"{second.pk}:"]["k"] == {str(task.pk): [key, earlier]}
    assert _held(second, tenant_a.player) == [later]
    feed(tenant_a.label, [bet(at="2026-01-05T13:15:00Z")])  # 12:00 and 12:10 fall out: no longer left out
    assert _document(tenant_a).runs[f"{second.pk}:"]["k"] == {str(task.pk): [key, []]}
    assert (shown(tenant_a, first), shown(tenant_a, second)) == (("in_progress", ["2"]), ("in_progress", ["2"]))
    feed(tenant_a.label, [bet(at="2026-01-05T13:20:00Z")])
    assert PlayerMission.objects.get(mission=second).state == "claimed"
    assert shown(tenant_a, first) == ("in_progress", ["3"])  # 12:20, 13:15, 13:20: the one window, shared


def test_a_windowed_run_opens_without_a_row_and_gets_one_when_it_completes(tenant_a, staff_client):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 3, "window": HOUR}], reward_points=50))
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z"), bet(at="2026-01-05T12:10:00Z")])
    [task] = mission.tasks.all()
    key = window_key(task.counter, HOUR, "")
    document = _document(tenant_a)
    assert (PlayerMission.objects.count(), document.runs, len(document.windows[key])) == (0, {}, 2)
    assert document.born[key] >= (mission.activated_at + dt.timedelta(minutes=1)).timestamp()
    assert shown(tenant_a, mission) == ("in_progress", ["2"])
    [row] = [m for m in staff_client(tenant_a.admin).get(reverse(LIST)).context["cl"].result_list]
    assert row.n_in_progress == 1
    feed(tenant_a.label, [bet(at="2026-01-05T13:30:00Z")])  # the window slides: the two earlier ones fall out
    assert (shown(tenant_a, mission), PlayerMission.objects.count()) == (("in_progress", ["1"]), 0)
    feed(tenant_a.label, [bet(at="2026-01-05T13:40:00Z"), bet(at="2026-01-05T13:50:00Z")])
    pm = PlayerMission.objects.get()
    assert (pm.state, pm.stored_progress) == ("claimed", {str(task.pk): "3"})
    assert Wallet.objects.get(player=tenant_a.player).points == 50
    feed(tenant_a.label, [bet(at="2026-01-05T14:00:00Z")] * 1 + [bet(at="2026-01-05T14:10:00Z")])
    assert (PlayerMission.objects.count(), Wallet.objects.get(player=tenant_a.player).points) == (1, 50)
    assert shown(tenant_a, mission) == ("claimed", ["3"])


def test_a_windowed_task_done_before_the_others_gives_its_run_an_entry_and_stays_done(tenant_a):
    mission = settled(
        mission_make(
            tenant_a.label,
            tasks=[{"target": 2, "window": HOUR}, {"target": 1, "event_type": "deposit", "conditions": []}],
        )
    )
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])
    assert (shown(tenant_a, mission), PlayerMission.objects.count()) == (("in_progress", ["1", "0"]), 0)
    feed(tenant_a.label, [bet(at="2026-01-05T12:10:00Z")])  # the windowed task is done: that must be kept
    assert (shown(tenant_a, mission), PlayerMission.objects.get().state) == (
        ("in_progress", ["2", "0"]),
        "in_progress",
    )
    feed(tenant_a.label, [bet(at="2026-01-05T15:00:00Z")])  # its window now holds one: still done
    assert shown(tenant_a, mission) == ("in_progress", ["2", "0"])
    feed(tenant_a.label, [event("deposit", {"deposit_amount": 10}, at="2026-01-05T15:10:00Z")])
    pm = PlayerMission.objects.get()
    assert (pm.state, sorted(pm.stored_progress.values())) == ("claimed", ["1", "2"])


def test_a_late_event_from_before_the_start_gives_a_windowed_run_an_entry_that_leaves_it_out(tenant_a):
    start = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 3, "window": HOUR}], active_from=start))
    feed(tenant_a.label, [bet(at="2026-01-05T12:30:00Z")])
    [late] = feed(tenant_a.label, [bet(at="2026-01-05T11:50:00Z")])  # within the window, before the start
    assert shown(tenant_a, mission) == ("in_progress", ["1"])
    [task] = mission.tasks.all()
    entry = _document(tenant_a).runs[f"{mission.pk}:"]
    assert entry["k"] == {str(task.pk): [window_key(task.counter, HOUR, ""), [late]]}
    assert PlayerMission.objects.get().state == "in_progress"  # it has progress to show: its row
    feed(tenant_a.label, [bet(at="2026-01-05T12:40:00Z"), bet(at="2026-01-05T12:45:00Z")])
    assert PlayerMission.objects.get().state == "claimed"


def test_a_windowed_opt_in_counts_only_what_its_window_holds_after_the_opt_in(tenant_a):
    plain = mission_make(tenant_a.label, tasks=[{"target": 9, "window": 3 * HOUR}])
    opt_in = mission_make(
        tenant_a.label, tasks=[{"target": 3, "window": 3 * HOUR}], requires_opt_in=True, time_limit=2 * HOUR
    )
    mission_opt_in(player=tenant_a.player, mission=opt_in, now=dt.datetime(2026, 1, 5, 11, 0, tzinfo=dt.UTC))
    at = ["2026-01-05T10:00:00Z", "2026-01-05T11:30:00Z", "2026-01-05T12:00:00Z", "2026-01-05T13:30:00Z"]
    _, *_, after = feed(tenant_a.label, [bet(at=moment) for moment in at])  # one batch
    [task] = opt_in.tasks.all()
    run = PlayerMission.objects.get(mission=opt_in)  # (its time limit is long past: shown as missed)
    assert (run.progress, shown(tenant_a, plain)) == ({str(task.pk): "2"}, ("in_progress", ["3"]))
    excluded = _document(tenant_a).runs[f"{opt_in.pk}:"]["k"][str(task.pk)][1]
    assert excluded == [after]  # past the time limit; 10:00, before the opt-in, fell out of the window (3 hours)
    feed(tenant_a.label, [bet(at="2026-01-05T12:30:00Z")])  # late, within the limit: counted, and completes
    assert PlayerMission.objects.get(mission=opt_in).state == "claimed"


def test_entries_written_before_windows_were_shared_move_their_events_into_the_shared_window(tenant_a):
    first = mission_make(tenant_a.label, tasks=[{"target": 4, "window": HOUR}])
    second = mission_make(tenant_a.label, tasks=[{"target": 4, "window": HOUR}])
    third = mission_make(tenant_a.label, tasks=[{"target": 4, "window": HOUR}])
    feed(tenant_a.label, [bet(user="other")])  # the player's progress row, with no window yet
    feed(tenant_a.label, [bet(at="2026-01-05T11:00:00Z")])  # starts both runs (their rows), outside what follows
    [task_1], [task_2], [task_3] = first.tasks.all(), second.tasks.all(), third.tasks.all()
    rows = {pm.mission_id: pm.pk for pm in PlayerMission.objects.filter(player=tenant_a.player)}
    noon, ten_past = _at("2026-01-05T12:00:00+00:00"), _at("2026-01-05T12:10:00+00:00")
    legacy = {  # as the handler wrote them before: each run its own copy of what its window held
        f"{first.pk}:": {"r": 1, "i": rows[first.pk], "p": {str(task_1.pk): "2"},
                         "w": {str(task_1.pk): [[noon, "1", 901], [ten_past, "1", 902]]}},
        f"{second.pk}:": {"r": 1, "i": rows[second.pk], "p": {str(task_2.pk): "1"},
                          "w": {str(task_2.pk): [[ten_past, "1", 902]]}},
        f"{third.pk}:": {"r": 1, "i": rows[third.pk]},  # its window held nothing
    }  # fmt: skip
    MissionProgress.objects.filter(player=tenant_a.player).update(runs=legacy, windows={}, born={})
    assert (_held(first, tenant_a.player), _held(second, tenant_a.player)) == (
        [901, 902],
        [902],
    )  # the view reads them as they are
    [new] = feed(tenant_a.label, [bet(at="2026-01-05T12:20:00Z")])
    key = window_key(task_1.counter, HOUR, "")
    document = _document(tenant_a)
    assert [item[2] for item in document.windows[key]] == [901, 902, new]
    assert document.runs[f"{first.pk}:"]["k"] == {str(task_1.pk): [key, []]}
    assert document.runs[f"{second.pk}:"]["k"] == {str(task_2.pk): [key, [901]]}  # it never held 901
    assert document.runs[f"{third.pk}:"]["k"] == {str(task_3.pk): [key, [901, 902]]}
    assert not any("w" in entry for entry in document.runs.values())
    assert [shown(tenant_a, m) for m in (first, second, third)] == [
        ("in_progress", ["3"]),
        ("in_progress", ["2"]),
        ("in_progress", ["1"]),
    ]
    assert (_held(first, tenant_a.player), _held(second, tenant_a.player)) == ([901, 902, new], [902, new])
    feed(tenant_a.label, [bet(at="2026-01-05T12:30:00Z")])
    assert PlayerMission.objects.get(mission=first, player=tenant_a.player).state == "claimed"
    assert shown(tenant_a, second) == ("in_progress", ["3"])


def test_another_labels_windows_are_kept_apart(tenant_a, tenant_b):
    mission_a = settled(mission_make(tenant_a.label, tasks=[{"target": 2, "window": HOUR}]))
    mission_b = settled(mission_make(tenant_b.label, tasks=[{"target": 2, "window": HOUR}]))
    feed(tenant_a.label, [bet()])
    feed(tenant_b.label, [bet(), bet(at="2026-01-05T12:05:00Z")])
    assert shown(tenant_a, mission_a) == ("in_progress", ["1"])
    assert PlayerMission.objects.get(mission=mission_b).state == "claimed"
    assert not PlayerMission.objects.filter(mission=mission_a).exists()


def test_a_daily_missions_windows_are_one_per_day_and_past_days_windows_are_dropped(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3, "window": HOUR}], type="recurring", recurrence="daily")
    [task] = mission.tasks.all()
    feed(tenant_a.label, [bet(at="2026-01-05T23:50:00Z")])  # a day long past (the tests run later)
    assert list(_document(tenant_a).windows) == [window_key(task.counter, HOUR, "2026-01-05")]
    feed(tenant_a.label, [bet(at="2026-01-06T00:10:00Z")])  # within the hour, but the next day: its own window
    assert list(_document(tenant_a).windows) == [window_key(task.counter, HOUR, "2026-01-06")]  # the past day's goes
    progress = dict(PlayerMission.objects.filter(mission=mission).values_list("cycle", "state"))
    assert progress == {"2026-01-05": "in_progress", "2026-01-06": "in_progress"}
    assert missions_mark_missed(now=dt.datetime(2026, 1, 7, 9, tzinfo=dt.UTC)) == 2
    missed = PlayerMission.objects.filter(mission=mission, state="missed").order_by("cycle")
    assert [pm.stored_progress for pm in missed] == [{str(task.pk): "1"}] * 2  # each day counted its own bet


def test_shared_windows_count_as_a_plain_replay_of_each_run_does(tenant_a):
    """Random batches with events out of order, for runs with rows, a run without one, and a run started midway:
    after every batch, each run's state and progress equal a plain replay (one window of the player's events, each run
    counting what it holds less what it held when the run started)."""
    rng = random.Random(20261204)
    span = dt.timedelta(minutes=30)
    targets = {"implicit": 6, "small": 4, "large": 8, "huge": 11, "midway": 5}
    missions = {"implicit": settled(mission_make(tenant_a.label, tasks=[{"target": 6, "window": span}]))}
    for name in ("small", "large", "huge"):
        missions[name] = mission_make(tenant_a.label, tasks=[{"target": targets[name], "window": span}])
    runs = {name: {"excluded": set(), "value": 0, "done": False} for name in missions}
    window: list[tuple[float, int]] = []
    clock = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    seen = set()
    for batch in range(40):
        if batch == 15:
            missions["midway"] = mission_make(tenant_a.label, tasks=[{"target": 5, "window": span}])
            missions_cache_clear()
            runs["midway"] = {"excluded": {event_id for _, event_id in window}, "value": 0, "done": False}
        moments = []
        for _ in range(rng.randint(1, 4)):
            clock += dt.timedelta(minutes=rng.randint(0, 12))
            late = rng.random() < 0.25
            moments.append(clock - dt.timedelta(minutes=rng.randint(1, 40)) if late else clock)
        ids = feed(tenant_a.label, [bet(at=moment.isoformat()) for moment in moments])
        for moment, event_id in zip(moments, ids, strict=True):
            window.append((moment.timestamp(), event_id))
            newest = max(at for at, _ in window)
            window = [(at, i) for at, i in window if at >= newest - span.total_seconds()]
            for name, run in runs.items():
                if not run["done"]:
                    run["value"] = sum(1 for _, i in window if i not in run["excluded"])
                    run["done"] = run["value"] >= targets[name]
        expected = {
            name: ("claimed", str(targets[name])) if run["done"] else ("in_progress", str(run["value"]))
            for name, run in runs.items()
        }
        actual = {}
        for name, mission in missions.items():
            state, [value] = shown(tenant_a, mission)
            actual[name] = (state, value)
        assert actual == expected, f"batch {batch}"
        seen.update(state for state, _ in expected.values())
    assert seen == {"claimed", "in_progress"}  # the replay saw runs open and completed
    assert runs["midway"]["excluded"]  # the run started midway left out what its window held then
    rows = set(PlayerMission.objects.filter(player=tenant_a.player).values_list("mission_id", flat=True))
    assert (missions["implicit"].pk in rows) == runs["implicit"]["done"]  # no row while it is open
