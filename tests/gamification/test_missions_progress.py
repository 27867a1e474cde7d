"""Mission progress on the pipeline: matching, count, sum, window, once per event, completion, rewards, facts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice import fields
from backoffice.errors import DomainError
from crm.models import Event, Player
from crm.pipeline import EventRow
from crm.services.ingest import events_ingest
from gamification.handlers.missions import count_mission_progress
from gamification.models import (
    Badge,
    BadgeAward,
    Level,
    MissionProgress,
    PlayerMission,
    TaskContribution,
    Wallet,
    WalletEntry,
)
from gamification.selectors import missions_for_player, wallet_get
from gamification.services.missions import mission_claim
from tests.gamification.mission_helpers import bet, feed, mission_make

pytestmark = pytest.mark.django_db


def _run(tenant, mission) -> PlayerMission:
    return PlayerMission.objects.get(player=tenant.player, mission=mission)


def _value(pm, index=0) -> Decimal:
    task = pm.mission.tasks.all()[index]
    return Decimal(pm.progress.get(str(task.pk), "0"))


def test_only_casino_bets_on_slots_of_at_least_one_count(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_a.label, [bet(amount=1.0), bet(amount=0.99), bet(category="live"), bet(amount=250)])
    pm = _run(tenant_a, mission)
    assert (_value(pm), pm.state) == (Decimal(2), "in_progress")


def test_a_resent_event_progresses_the_task_once(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3}])
    feed(tenant_a.label, [bet("same-bet")])
    feed(tenant_a.label, [bet("same-bet")])  # the partner retries the event: a duplicate, not stored again
    assert _value(_run(tenant_a, mission)) == Decimal(1)
    # That the pipeline applies a stored event once per group, also across killed workers, is proven in
    # tests/crm/test_pipeline.py and tests/test_reliability.py.


def test_a_windowed_task_counts_an_event_once_even_if_the_handler_sees_it_twice(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3, "window": dt.timedelta(hours=1)}])
    ids = feed(tenant_a.label, [bet("same-bet")])
    rows = [
        EventRow(e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload)
        for e in Event.objects.filter(pk__in=ids)
    ]
    count_mission_progress(rows)  # a windowed task keeps what it counted: unique on (run, task, event)
    pm = _run(tenant_a, mission)
    assert _value(pm) == Decimal(1)
    assert TaskContribution.objects.filter(player_mission=pm).count() == 1


def test_a_window_seen_again_next_to_another_missions_progress_is_kept_as_it_was(tenant_a):
    windowed = mission_make(tenant_a.label, tasks=[{"target": 3, "window": dt.timedelta(hours=1)}])
    ids = feed(tenant_a.label, [bet("first", at="2026-01-05T12:00:00Z")])
    plain = mission_make(tenant_a.label, tasks=[{"target": 9}])
    count_mission_progress(_rows(ids))  # the window holds it already; the new mission counts it
    assert (_value(_run(tenant_a, windowed)), _value(_run(tenant_a, plain))) == (Decimal(1), Decimal(1))
    feed(tenant_a.label, [bet(at="2026-01-05T12:20:00Z"), bet(at="2026-01-05T12:40:00Z")])
    assert _run(tenant_a, windowed).state == "claimed"


def test_a_sum_task_adds_up_the_field_and_completes_at_the_target(tenant_a):
    mission = mission_make(
        tenant_a.label,
        tasks=[{"target": 100, "aggregation": "sum", "sum_field": "bet_amount", "conditions": []}],
        reward_points=50,
    )
    feed(tenant_a.label, [bet(amount=40.5), bet(amount=40.5)])
    assert _value(_run(tenant_a, mission)) == Decimal("81.0")
    feed(tenant_a.label, [bet(amount=20)])
    pm = _run(tenant_a, mission)
    assert pm.state == "claimed"
    assert pm.completed_at
    assert pm.claimed_at
    assert wallet_get(player=tenant_a.player).points == 50


def test_a_window_counts_only_events_within_it_of_the_newest(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3, "window": dt.timedelta(hours=1)}])
    feed(tenant_a.label, [bet(at="2026-01-05T10:00:00Z"), bet(at="2026-01-05T10:30:00Z")])
    assert _value(_run(tenant_a, mission)) == Decimal(2)
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])  # the two earlier ones fall out of the window
    assert _value(_run(tenant_a, mission)) == Decimal(1)
    assert TaskContribution.objects.count() == 1  # no window can hold them again: dropped as the progress is written
    feed(tenant_a.label, [bet(at="2026-01-05T12:10:00Z"), bet(at="2026-01-05T12:20:00Z")])
    assert _run(tenant_a, mission).state == "claimed"
    assert not TaskContribution.objects.exists()  # a finished run's counted events are no longer needed


def test_every_task_must_be_done_and_the_reward_is_given_once(tenant_a):
    mission = mission_make(
        tenant_a.label,
        tasks=[{"target": 2}, {"target": 1, "event_type": "deposit", "conditions": []}],
        reward_points=100,
        reward_gems=5,
    )
    feed(tenant_a.label, [bet(), bet(), bet()])
    assert _run(tenant_a, mission).state == "in_progress"
    assert _value(_run(tenant_a, mission)) == Decimal(2)  # shown as 2 of 2, not 3 of 2
    deposit = bet()
    deposit |= {"type": "deposit", "payload": {"deposit_amount": 10}}
    feed(tenant_a.label, [deposit])
    pm = _run(tenant_a, mission)
    assert pm.state == "claimed"
    wallet = wallet_get(player=tenant_a.player)
    assert (wallet.points, wallet.gems) == (100, 5)
    keys = set(WalletEntry.objects.filter(player=tenant_a.player).values_list("key", flat=True))
    assert keys == {f"mission:{pm.pk}:points", f"mission:{pm.pk}:gems"}
    feed(tenant_a.label, [bet(), bet()])  # a finished general mission counts nothing more
    assert WalletEntry.objects.filter(player=tenant_a.player).count() == 2
    facts = Event.objects.filter(player=tenant_a.player, type="mission_completed")
    assert [(f.event_id, f.payload["mission_id"], f.payload["run"]) for f in facts] == [
        (f"mission:{pm.pk}:completed", mission.pk, 1)
    ]


def test_a_run_done_within_its_first_batch_is_completed_and_rewarded_at_once(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 2}], reward_points=30)
    feed(tenant_a.label, [bet(), bet(), bet()])  # the run is created by this batch, already done
    pm = _run(tenant_a, mission)
    assert (_value(pm), pm.state) == (Decimal(2), "claimed")
    assert pm.completed_at <= pm.claimed_at
    assert wallet_get(player=tenant_a.player).points == 30
    assert Event.objects.filter(player=tenant_a.player, type="mission_completed").count() == 1


def _rows(ids) -> list[EventRow]:
    return [
        EventRow(e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload)
        for e in Event.objects.filter(pk__in=ids).order_by("id")
    ]


def test_a_batch_whose_progress_another_writer_changed_meanwhile_counts_again_from_what_is_committed(
    tenant_a, monkeypatch
):
    from gamification.handlers import missions as handler

    mission = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_a.label, [bet()])
    load, writes = handler._State.load, []

    def load_then_someone_writes(*args):  # e.g. the missed-runs beat, between this batch's read and its write
        state = load(*args)
        if len(writes) < limit:
            writes.append(
                MissionProgress.objects.filter(player_id=tenant_a.player.pk).update(updated_at=timezone.now())
            )
        return state

    monkeypatch.setattr(handler._State, "load", load_then_someone_writes)
    limit = 1  # once: the second attempt reads the new version and counts
    count_mission_progress(_rows(events_ingest(label=tenant_a.label, items=[bet(), bet()], source="api").new_ids))
    assert (_value(_run(tenant_a, mission)), writes) == (Decimal(3), [1])
    limit = 1 + handler.ATTEMPTS  # every attempt: the batch fails and changes nothing, the pipeline retries it
    ids = events_ingest(label=tenant_a.label, items=[bet()], source="api").new_ids
    with pytest.raises(handler.ProgressConflict), transaction.atomic():
        count_mission_progress(_rows(ids))
    assert (_value(_run(tenant_a, mission)), len(writes)) == (Decimal(3), 1 + handler.ATTEMPTS)
    count_mission_progress(_rows(ids))
    assert _value(_run(tenant_a, mission)) == Decimal(4)


def test_a_batch_writes_one_progress_row_per_player_whatever_its_missions(tenant_a):
    missions = [mission_make(tenant_a.label, tasks=[{"target": 50}, {"target": 40}]) for _ in range(5)]
    feed(tenant_a.label, [bet(), bet(user="other-player")])  # the runs start: their rows are written once
    ids = events_ingest(label=tenant_a.label, items=[bet(), bet(), bet(user="other-player")], source="api").new_ids
    with CaptureQueriesContext(connection) as queries:
        count_mission_progress(_rows(ids))
    writes = [
        q["sql"].split(" (")[0].split(" AS ")[0]
        for q in queries.captured_queries
        if q["sql"][:6] in ("INSERT", "UPDATE")
    ]
    assert writes == ["UPDATE gamification_missionprogress"]  # ten runs moved, two players: one statement, two rows
    assert MissionProgress.objects.count() == 2
    assert [_value(_run(tenant_a, m)) for m in missions] == [Decimal(3)] * 5


def test_completions_and_their_rewards_cost_the_same_statements_for_one_player_or_many(tenant_a):
    badge = Badge.objects.create(label=tenant_a.label, name="Finisher")
    Level.objects.create(label=tenant_a.label, name="Silver", required_points=10)
    mission_make(tenant_a.label, tasks=[{"target": 2}], reward_points=10, reward_gems=2, reward_badge=badge)
    users = [f"emailed-{n}" for n in range(5)]
    feed(tenant_a.label, [bet(user=user) for user in users])
    Player.objects.filter(user_ext_id__in=users).update(user_email="someone@example.com", user_phone="+46700000000")
    counts = []
    for batch in (users[:1], users[1:]):
        ids = events_ingest(label=tenant_a.label, items=[bet(user=user) for user in batch], source="api").new_ids
        with (
            CaptureQueriesContext(connection) as queries,
            mock.patch.object(fields, "decrypt", wraps=fields.decrypt) as spy,
        ):
            count_mission_progress(_rows(ids))
        counts.append(len(queries.captured_queries))
        assert spy.call_count == 0  # the players' email and phone are neither read nor decrypted
    assert counts[0] == counts[1]  # no statement per run or player
    rewarded = Wallet.objects.filter(player__user_ext_id__in=users, points=10, gems=2, level__name="Silver")
    assert rewarded.count() == 5
    assert BadgeAward.objects.filter(badge=badge, player__user_ext_id__in=users).count() == 5
    assert Event.objects.filter(type="level_changed", player__user_ext_id__in=users).count() == 5


def test_a_claim_required_mission_rewards_on_claim_once(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], claim_required=True, reward_diamonds=3)
    with pytest.raises(DomainError) as refused:
        mission_claim(player=tenant_a.player, mission=mission)
    assert refused.value.code == "not_completed"
    feed(tenant_a.label, [bet()])
    pm = _run(tenant_a, mission)
    assert pm.state == "completed"
    assert wallet_get(player=tenant_a.player).diamonds == 0
    first = mission_claim(player=tenant_a.player, mission=mission)
    second = mission_claim(player=tenant_a.player, mission=mission)
    assert (first.created, second.created) == (True, False)
    assert first.player_mission.pk == second.player_mission.pk == pm.pk
    assert wallet_get(player=tenant_a.player).diamonds == 3
    assert WalletEntry.objects.filter(player=tenant_a.player).count() == 1


def test_only_active_missions_within_their_dates_progress(tenant_a):
    draft = mission_make(tenant_a.label, status="draft")
    archived = mission_make(tenant_a.label, status="archived")
    later = mission_make(tenant_a.label, active_from=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    ended = mission_make(tenant_a.label, active_till=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])
    assert not PlayerMission.objects.filter(mission__in=[draft, archived, later, ended]).exists()


def test_control_group_players_make_no_progress_and_see_no_missions(tenant_a):
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], reward_points=10)
    Player.objects.filter(pk=tenant_a.player.pk).update(ach_gamification_in_control_group=True)
    tenant_a.player.refresh_from_db()
    feed(tenant_a.label, [bet()])
    assert not PlayerMission.objects.filter(mission=mission).exists()
    assert missions_for_player(player=tenant_a.player) == []


def test_events_of_another_label_count_only_for_their_own_missions(tenant_a, tenant_b):
    mission_a = mission_make(tenant_a.label, tasks=[{"target": 5}])
    feed(tenant_b.label, [bet(), bet()])
    assert not PlayerMission.objects.filter(mission=mission_a).exists()


def test_the_selector_shows_state_tasks_and_progress(tenant_a):
    featured = mission_make(tenant_a.label, tasks=[{"target": 2}], is_featured=True, position=5, reward_points=7)
    plain = mission_make(tenant_a.label, tasks=[{"target": 4}], position=1)
    feed(tenant_a.label, [bet()])
    views = missions_for_player(player=tenant_a.player)
    assert [v.id for v in views] == [featured.pk, plain.pk]
    assert (views[0].state, views[0].tasks[0].value, views[0].tasks[0].target, views[0].tasks[0].done) == (
        "in_progress",
        Decimal(1),
        Decimal(2),
        False,
    )
    assert views[0].rewards["points"] == 7
    feed(tenant_a.label, [bet()])
    assert missions_for_player(player=tenant_a.player)[0].state == "claimed"


def test_the_mission_list_costs_a_few_queries(tenant_a, django_assert_max_num_queries):
    for _ in range(10):
        mission_make(tenant_a.label, tasks=[{"target": 5}, {"target": 2}])
    feed(tenant_a.label, [bet()])
    with django_assert_max_num_queries(4):
        assert len(missions_for_player(player=tenant_a.player)) == 10


def test_events_no_task_listens_to_cost_no_query(tenant_a, django_assert_num_queries):
    mission_make(tenant_a.label, tasks=[{"target": 3}])
    ids = feed(tenant_a.label, [bet()])  # loads the label's missions into the cache
    [row] = Event.objects.filter(pk__in=ids)
    login = EventRow(row.id, row.label_id, row.player_id, "login", row.occurred_at, row.received_at, {})
    with django_assert_num_queries(0):
        count_mission_progress([login] * 300)


def test_the_beat_task_persists_missed_runs(tenant_a):
    from gamification.tasks_missions import missions_expire

    mission = mission_make(tenant_a.label, tasks=[{"target": 5}], active_till=dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    feed(tenant_a.label, [bet(at="2026-01-05T12:00:00Z")])
    assert missions_expire() == 1  # now is past the mission's end
    assert _run(tenant_a, mission).state == "missed"
    assert missions_for_player(player=tenant_a.player)[0].state == "missed"
    # The run keeps the progress it made; its entry leaves the player's progress document.
    assert (_value(_run(tenant_a, mission)), MissionProgress.objects.get().runs) == (Decimal(1), {})
    assert missions_for_player(player=tenant_a.player)[0].tasks[0].value == Decimal(1)
    assert missions_expire() == 0
