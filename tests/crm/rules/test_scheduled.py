"""Scheduled rules: a run per schedule time, chunked by player, resumable after a kill, each effect once."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.automation import scheduled
from crm.automation.schedule import ScheduleError, schedule_due, schedule_next, schedule_parse
from crm.models.rules import RuleEffect, RuleRun, RuleStatus
from gamification.models import WalletEntry
from tests.crm.rules.helpers import rule_make
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 2, 9, 0, 30, tzinfo=dt.UTC)  # a Monday


def _players(tenant, n):
    return [PlayerFactory(brand=tenant.brand, label=tenant.label, user_ext_id=f"p{i}") for i in range(n)]


def _scheduled(tenant, **fields):
    rule = rule_make(tenant.label, kind="scheduled", schedule="0 9 * * 1", **fields)
    RuleRun.objects.all().delete()
    type(rule).objects.filter(pk=rule.pk).update(activated_at=NOW - dt.timedelta(days=1))
    return rule


def test_the_schedule_parser_names_the_bad_field_and_lists_next_runs():
    with pytest.raises(ScheduleError, match=r"hour: '24' is outside 0-23\."):
        schedule_parse("0 24 * * *")
    with pytest.raises(ScheduleError, match="Five fields"):
        schedule_parse("0 9 * *")
    with pytest.raises(ScheduleError, match="never happens"):
        schedule_parse("0 9 31 2 *")
    monday_9 = schedule_parse("0 9 * * 1")
    runs = schedule_next(monday_9, tz_name="Europe/Malta", after=NOW, count=2)
    assert runs == [dt.datetime(2026, 3, 9, 8, 0, tzinfo=dt.UTC), dt.datetime(2026, 3, 16, 8, 0, tzinfo=dt.UTC)]
    every_15 = schedule_parse("*/15 8-9 1,15 * *")
    assert schedule_next(every_15, tz_name="UTC", after=NOW, count=3)[0] == dt.datetime(
        2026, 3, 15, 8, 0, tzinfo=dt.UTC
    )
    assert schedule_due(monday_9, tz_name="UTC", last=NOW - dt.timedelta(days=8), now=NOW) == NOW.replace(second=0)


def test_a_due_run_is_created_once_and_gives_every_player_one_effect(tenant_a):
    _players(tenant_a, 4)
    rule = _scheduled(tenant_a)
    run_ids = scheduled.runs_due(now=NOW)
    assert scheduled.runs_due(now=NOW) == []  # the same schedule time: no second run
    run = RuleRun.objects.get()
    assert (run_ids, run.scheduled_for) == ([run.pk], NOW.replace(second=0))
    assert scheduled.run_execute(run_id=run.pk, chunk=2) == 5
    assert scheduled.run_execute(run_id=run.pk, chunk=2) == 0
    run.refresh_from_db()
    assert (run.status, run.players) == ("done", 5)
    assert RuleEffect.objects.filter(rule=rule, run=run, status="applied").count() == 5
    assert WalletEntry.objects.count() == 5


def test_a_run_killed_mid_chunk_resumes_and_applies_each_effect_once(tenant_a, monkeypatch):
    _players(tenant_a, 6)
    rule = _scheduled(tenant_a)
    [run_id] = scheduled.runs_due(now=NOW)
    assert scheduled.run_execute(run_id=run_id, chunk=3, max_chunks=1) == 3
    real = scheduled.effects_fire

    def dies_midway(firings, **kwargs):
        real(firings[:1], **kwargs)  # one effect written...
        raise SystemExit("worker killed")  # ...then the worker dies: the chunk's transaction rolls back

    monkeypatch.setattr(scheduled, "effects_fire", dies_midway)
    with pytest.raises(SystemExit):
        scheduled.run_execute(run_id=run_id, chunk=3)
    assert RuleEffect.objects.count() == 3
    monkeypatch.setattr(scheduled, "effects_fire", real)
    assert scheduled.run_execute(run_id=run_id, chunk=3) == 4
    assert RuleEffect.objects.filter(rule=rule).count() == 7
    assert sorted(WalletEntry.objects.values_list("player_id", flat=True)) == sorted(
        RuleEffect.objects.values_list("player_id", flat=True)
    )
    assert len(set(RuleEffect.objects.values_list("player_id", flat=True))) == 7


def test_a_stale_run_is_sent_again_by_the_beat(tenant_a):
    rule = _scheduled(tenant_a)
    run = RuleRun.objects.create(rule=rule, label=tenant_a.label, scheduled_for=NOW.replace(second=0))
    RuleRun.objects.filter(pk=run.pk).update(started_at=NOW - dt.timedelta(minutes=10))
    assert scheduled.runs_due(now=NOW) == [run.pk]


def test_pausing_stops_a_run_and_a_paused_rule_gets_no_run(tenant_a):
    from crm.services.rules import rule_transition

    _players(tenant_a, 3)
    rule = _scheduled(tenant_a)
    [run_id] = scheduled.runs_due(now=NOW)
    assert scheduled.run_execute(run_id=run_id, chunk=2, max_chunks=1) == 2
    rule_transition(rule=rule, to=RuleStatus.PAUSED)
    assert scheduled.run_execute(run_id=run_id, chunk=2) == 0
    assert RuleRun.objects.get().status == "stopped"
    assert scheduled.runs_due(now=NOW + dt.timedelta(days=7)) == []


def test_a_scheduled_rule_runs_against_its_segment(tenant_a):
    from crm.services.segments import segment_save

    players = _players(tenant_a, 3)
    players[0].user_country = "GR"
    players[0].save(update_fields=["user_country"])
    greece = segment_save(label=tenant_a.label, name="GR", conditions={"all": [{"field": "user_country", "op": "eq",
                          "value": "GR"}]})  # fmt: skip
    _scheduled(tenant_a, segment=greece)
    [run_id] = scheduled.runs_due(now=NOW)
    assert scheduled.run_execute(run_id=run_id) == 1
    assert list(RuleEffect.objects.values_list("player_id", flat=True)) == [players[0].pk]
