"""Runs open without a row: a mission generally available, with no end date, opt-in, audience or window, counts a
player's run on their counters from 0 when every counter it reads was first written a minute or more after its
activation. Nothing of the run is written until it completes (its row, its rewards); the player, the API, the admin
and the player's page see its progress all the same."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.automation.gifts import mission_give
from gamification.models import MissionOpenDelta, MissionProgress, PlayerMission, Wallet
from gamification.tasks_missions import missions_expire
from tests.gamification.mission_helpers import bet, feed, mission_make, settled, shown

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("both_paths")]
LIST = "admin:gamification_mission_changelist"


def _in_progress(client, mission) -> int:
    [row] = [m for m in client.get(reverse(LIST)).context["cl"].result_list if m.pk == mission.pk]
    return row.n_in_progress


def test_a_run_opens_without_a_row_and_gets_one_when_it_completes(tenant_a):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 3}], reward_points=50))
    feed(tenant_a.label, [bet(), bet()])
    document = MissionProgress.objects.get(player=tenant_a.player)
    [counter] = document.counters
    assert (PlayerMission.objects.count(), document.runs, document.counters[counter]) == (0, {}, "2")
    assert document.born[counter] >= (mission.activated_at + dt.timedelta(minutes=1)).timestamp()
    assert shown(tenant_a, mission) == ("in_progress", ["2"])
    feed(tenant_a.label, [bet()])
    pm = PlayerMission.objects.get()
    [task] = mission.tasks.all()
    assert (pm.mission_id, pm.state, pm.stored_progress) == (mission.pk, "claimed", {str(task.pk): "3"})
    assert Wallet.objects.get(player=tenant_a.player).points == 50
    feed(tenant_a.label, [bet(), bet()])  # a completed run stays completed: no second row, no second reward
    assert (PlayerMission.objects.count(), Wallet.objects.get(player=tenant_a.player).points) == (1, 50)
    assert shown(tenant_a, mission) == ("claimed", ["3"])
    assert MissionProgress.objects.get(player=tenant_a.player).runs == {}


def test_every_task_of_the_run_counts_from_zero_and_it_completes_once_all_are_done(tenant_a):
    mission = settled(
        mission_make(
            tenant_a.label,
            tasks=[{"target": 2}, {"target": 5, "aggregation": "sum", "sum_field": "bet_amount", "conditions": []}],
        )
    )
    feed(tenant_a.label, [bet(amount=1.5), bet(amount=0.5)])  # one slot bet of at least 1; 2.0 bet in all
    assert shown(tenant_a, mission) == ("in_progress", ["1", "2"])
    feed(tenant_a.label, [bet(amount=1)])  # the first task done, the second at 3 of 5
    assert (shown(tenant_a, mission), PlayerMission.objects.count()) == (("in_progress", ["2", "3"]), 0)
    feed(tenant_a.label, [bet(amount=4, category="live")])
    assert PlayerMission.objects.get().state == "claimed"
    assert shown(tenant_a, mission) == ("claimed", ["2", "5"])


def test_the_admin_counts_runs_open_without_a_row_and_the_beat_folds_the_count(tenant_a, staff_client):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 2}]))
    client = staff_client(tenant_a.admin)
    feed(tenant_a.label, [bet(), bet(user="second"), bet(user="third")])
    assert (_in_progress(client, mission), PlayerMission.objects.count()) == (3, 0)
    feed(tenant_a.label, [bet(user="second"), bet(user="second")])  # completes; its counter goes past the target
    assert (_in_progress(client, mission), PlayerMission.objects.filter(state="claimed").count()) == (2, 1)
    assert MissionOpenDelta.objects.filter(mission=mission).count() == 2  # one row per batch that changed it
    missions_expire()
    assert list(MissionOpenDelta.objects.filter(mission=mission).values_list("delta", flat=True)) == [2]
    assert _in_progress(client, mission) == 2


def test_a_counter_first_written_before_the_mission_gives_its_run_an_entry_and_a_row(tenant_a):
    older = settled(mission_make(tenant_a.label, tasks=[{"target": 9}]), ago=dt.timedelta(hours=2))
    feed(tenant_a.label, [bet(), bet()])
    document = MissionProgress.objects.get(player=tenant_a.player)
    [counter] = document.counters
    document.born = {counter: time.time() - 3600}  # as if the counter had been written an hour ago
    document.save(update_fields=["born"])
    newer = settled(mission_make(tenant_a.label, tasks=[{"target": 5}]))  # the same task, activated after it
    feed(tenant_a.label, [bet()])
    # The older mission's run counts the counter from 0, the newer one's from its value at its first event.
    assert (shown(tenant_a, older), shown(tenant_a, newer)) == (("in_progress", ["3"]), ("in_progress", ["1"]))
    assert list(PlayerMission.objects.values_list("mission_id", "state")) == [(newer.pk, "in_progress")]
    assert list(MissionProgress.objects.get(player=tenant_a.player).runs) == [f"{newer.pk}:"]


def test_events_before_the_missions_start_give_its_run_an_entry_and_are_not_counted(tenant_a):
    start = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 3}], active_from=start))
    feed(tenant_a.label, [bet(at="2026-01-05T11:00:00Z"), bet(at="2026-01-05T12:30:00Z")])
    assert shown(tenant_a, mission) == ("in_progress", ["1"])
    assert list(MissionProgress.objects.get(player=tenant_a.player).runs) == [f"{mission.pk}:"]
    feed(tenant_a.label, [bet(at="2026-01-05T13:00:00Z"), bet(at="2026-01-05T13:30:00Z")])
    assert (PlayerMission.objects.get().state, shown(tenant_a, mission)) == ("claimed", ("claimed", ["3"]))


def test_a_late_event_before_the_start_of_a_run_open_without_a_row_gives_it_an_entry_and_its_row(
    tenant_a, staff_client
):
    start = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 3}], active_from=start))
    feed(tenant_a.label, [bet(at="2026-01-05T12:30:00Z")])
    assert (shown(tenant_a, mission), PlayerMission.objects.count()) == (("in_progress", ["1"]), 0)
    feed(tenant_a.label, [bet(at="2026-01-05T11:00:00Z")])  # arrives late, from before the start: not counted
    assert shown(tenant_a, mission) == ("in_progress", ["1"])
    assert list(PlayerMission.objects.values_list("state", flat=True)) == ["in_progress"]
    assert _in_progress(staff_client(tenant_a.admin), mission) == 1
    feed(tenant_a.label, [bet(at="2026-01-05T13:00:00Z"), bet(at="2026-01-05T13:30:00Z")])
    assert list(PlayerMission.objects.values_list("state", flat=True)) == ["claimed"]


def test_a_mission_given_by_a_rule_counts_on_its_available_row_and_completes_it(tenant_a):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 2}]))
    feed(tenant_a.label, [bet(user="other")])  # the player exists before the rule gives the mission
    mission_give(player=tenant_a.player, mission_id=mission.pk, at=timezone.now())
    given = PlayerMission.objects.get(player=tenant_a.player)
    feed(tenant_a.label, [bet()])
    [task] = mission.tasks.all()
    assert (shown(tenant_a, mission), given.progress) == (("in_progress", ["1"]), {str(task.pk): "1"})
    feed(tenant_a.label, [bet()])
    assert list(PlayerMission.objects.filter(player=tenant_a.player).values_list("id", "state")) == [
        (given.pk, "claimed")
    ]


def test_another_labels_events_and_players_are_counted_apart(tenant_a, tenant_b):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 2}]))
    other = settled(mission_make(tenant_b.label, tasks=[{"target": 2}]))
    feed(tenant_b.label, [bet(), bet()])
    feed(tenant_a.label, [bet()])
    assert (shown(tenant_a, mission), shown(tenant_b, other)) == (("in_progress", ["1"]), ("claimed", ["2"]))
    assert list(PlayerMission.objects.values_list("mission_id", flat=True)) == [other.pk]


def test_a_daily_missions_runs_count_without_rows_each_in_its_day(tenant_a, staff_client):
    mission = settled(mission_make(tenant_a.label, tasks=[{"target": 2}], type="recurring", recurrence="daily"))
    today = timezone.now().date()
    at = {n: f"{today - dt.timedelta(days=n)}T00:00:01Z" for n in (0, 1, 5)}
    feed(tenant_a.label, [bet(at=at[1]), bet(at=at[0])])  # yesterday's run and today's: one bet each
    assert (shown(tenant_a, mission), PlayerMission.objects.count()) == (("in_progress", ["1"]), 0)
    client = staff_client(tenant_a.admin)
    assert _in_progress(client, mission) == 2
    missions_expire()  # yesterday is over: its run no longer counts as in progress
    assert _in_progress(client, mission) == 1
    assert list(MissionOpenDelta.objects.values_list("cycle", "delta")) == [(str(today), 1)]
    feed(tenant_a.label, [bet(at=at[0])])
    assert list(PlayerMission.objects.values_list("cycle", "state")) == [(str(today), "claimed")]
    assert (shown(tenant_a, mission), _in_progress(client, mission)) == (("claimed", ["2"]), 0)
    # A day long past (its counter dropped once nothing counts on it): late events write it again, with its birth.
    feed(tenant_a.label, [bet(at=at[5])])
    feed(tenant_a.label, [bet(at=at[5])])
    document = MissionProgress.objects.get(player=tenant_a.player)
    [old] = [key for key in document.counters if key.endswith(str(today - dt.timedelta(days=5)))]
    assert (document.counters[old], old in document.born) == ("2", True)


def test_a_mission_recurring_on_completion_counts_its_first_run_without_a_row_and_the_next_from_then(
    tenant_a, staff_client
):
    mission = settled(
        mission_make(
            tenant_a.label, tasks=[{"target": 2}], type="recurring_on_completion", max_completions=3, reward_points=10
        )
    )
    client = staff_client(tenant_a.admin)
    feed(tenant_a.label, [bet()])
    assert (shown(tenant_a, mission), PlayerMission.objects.count(), _in_progress(client, mission)) == (
        ("in_progress", ["1"]),
        0,
        1,
    )
    feed(tenant_a.label, [bet(), bet()])  # the first run completes; the batch's third bet is past it
    assert list(PlayerMission.objects.values_list("run", "state")) == [(1, "claimed")]
    assert (shown(tenant_a, mission), _in_progress(client, mission)) == (("available", ["0"]), 0)
    feed(tenant_a.label, [bet()])  # the second run starts from the counter as it is (3), with an entry and a row

    def runs():
        return list(PlayerMission.objects.order_by("run").values_list("run", "state"))

    assert (runs(), shown(tenant_a, mission), _in_progress(client, mission)) == (
        [(1, "claimed"), (2, "in_progress")],
        ("in_progress", ["1"]),
        1,
    )
    feed(tenant_a.label, [bet()])
    assert runs() == [(1, "claimed"), (2, "claimed")]
    assert Wallet.objects.get(player=tenant_a.player).points == 20
