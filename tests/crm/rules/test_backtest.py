"""Backtests: a replay over past events that writes nothing but its own row and counts what the live rule does."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.automation.backtest import backtest_execute, backtest_run
from crm.models.rules import Accumulator, BacktestRun, RuleCounter, RuleEffect, RuleStat, RuleStatus
from crm.pipeline import events_apply
from crm.services.ingest import events_ingest
from crm.services.rules import backtest_start, rule_transition
from gamification.models import WalletEntry
from gamification.selectors import wallet_get
from tests.crm.rules.helpers import bet, deposit, rule_make
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 1, 8, 0, 0, tzinfo=dt.UTC)


def _ingest(label, items):
    result = events_ingest(label=label, items=items, source="api")
    assert not [i for i in result.items if i.status == "invalid"], [i.errors for i in result.items]
    return result.new_ids


def test_a_backtest_counts_per_day_with_caps_and_writes_nothing(tenant_a):
    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="other")
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT, cap_count=1, cap_period="day",
                     activities=[{"type": "points", "amount": 50}, {"type": "set_marker", "marker": "d"}])  # fmt: skip
    _ingest(tenant_a.label, [
        deposit(150, at="2026-01-05T10:00:00Z"), deposit(120, at="2026-01-05T11:00:00Z"),  # capped on the 5th
        deposit(50, at="2026-01-05T12:00:00Z"),  # does not match
        deposit(200, at="2026-01-06T10:00:00Z"), deposit(300, at="2026-01-06T10:00:00Z", user="other"),
        deposit(900, at="2025-12-20T10:00:00Z"),  # before the window
        {**deposit(1000), "type": "withdrawal", "payload": {"withdrawal_amount": 1000}},  # another type
    ])  # fmt: skip
    result = backtest_run(rule=rule, days=7, now=NOW)
    assert result["players"] == 2
    assert result["events_scanned"] == 4
    assert result["totals"] == {"matched": 4, "effects": 3, "capped": 1, "points": 150, "gems": 0, "diamonds": 0,
                                "bonuses": 0, "markers": 3, "missions": 0, "badges": 0, "webhooks": 0}  # fmt: skip
    assert [(d["day"], d["matched"], d["effects"], d["players"], d["points"]) for d in result["days"]] == [
        ("2026-01-05", 2, 1, 1, 50),
        ("2026-01-06", 2, 2, 2, 100),
    ]
    assert not RuleEffect.objects.exists()
    assert not WalletEntry.objects.exists()
    assert not RuleCounter.objects.exists()
    assert not RuleStat.objects.exists()


@pytest.mark.parametrize("with_expression", [True, False])
def test_the_backtest_matches_what_the_live_rule_then_does(tenant_a, with_expression):
    tenant_a.label.time_zone = "America/New_York"
    tenant_a.label.save(update_fields=["time_zone"])
    rule = rule_make(
        tenant_a.label,
        status=RuleStatus.DRAFT,
        trigger_type="casino_bet",
        conditions=[{"field": "bet_amount", "op": "gte", "value": 1}],
        cap_count=3,
        cap_period="day",
        activities=[
            {"type": "accumulate", "currency": "points", "field": "bet_amount", "per": 10, "amount": 2},
            {"type": "gems", "expression": "event.bet_amount / 5"}
            if with_expression
            else {"type": "gems", "amount": 2},
        ],
    )
    amounts = [7.3, 0.5, 12.25, 3, 9.9, 40, 1.5, 8.8, 0.123456789, 19.99]
    items = [bet(a, at=f"2026-01-0{5 + i % 3}T{i:02d}:30:00Z") for i, a in enumerate(amounts)]
    ids = _ingest(tenant_a.label, items)
    result = backtest_run(rule=rule, days=7, now=NOW)
    rule_transition(rule=rule, to=RuleStatus.ACTIVE)
    events_apply(ids, group_names=["automation"])
    wallet = wallet_get(player=tenant_a.player)
    assert (result["totals"]["points"], result["totals"]["gems"]) == (wallet.points, wallet.gems)
    assert result["totals"]["effects"] == RuleEffect.objects.filter(status="applied").count()
    assert result["totals"]["capped"] == RuleEffect.objects.filter(reason="capped").count()
    assert wallet.points > 0
    assert Accumulator.objects.count() == 1


def test_expressions_read_each_players_state_as_it_is_now(tenant_a):
    from crm.models import PlayerAggregate
    from gamification.services.wallet import wallet_adjust

    rich = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="rich")
    wallet_adjust(player=rich, currency="points", amount=500, source="api", key="fund")
    PlayerAggregate.objects.update_or_create(player=rich, defaults={"label": tenant_a.label, "deposit_count": 4})
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT, activities=[
        {"type": "gems", "expression": "state.points / 100 + state.deposit_count"},  # rich: 5 + 4; the other: 0
    ])  # fmt: skip
    _ingest(tenant_a.label, [deposit(150, at="2026-01-05T10:00:00Z", user=u) for u in ("rich", "rich",
            "shared-player")])  # fmt: skip
    result = backtest_run(rule=rule, days=7, now=NOW)
    assert (result["totals"]["effects"], result["totals"]["gems"]) == (3, 18)


def test_players_not_active_and_outside_the_audience_are_left_out(tenant_a):
    inactive = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="gone",
                             core_account_status="BLOCKED")  # fmt: skip
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT,
                     segment_conditions={"all": [{"field": "user_country", "op": "eq", "value": "MT"}]})  # fmt: skip
    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="greek", user_country="GR")
    _ingest(tenant_a.label, [deposit(100, at="2026-01-05T10:00:00Z", user=u) for u in ("shared-player", "gone",
            "greek")])  # fmt: skip
    result = backtest_run(rule=rule, days=7, now=NOW)
    assert (result["players"], result["totals"]["matched"], result["totals"]["effects"]) == (1, 1, 1)
    assert inactive.pk


def test_the_task_updates_its_row_and_only_its_row(tenant_a, django_capture_on_commit_callbacks):
    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT)
    _ingest(tenant_a.label, [deposit(150, at=(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat())])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        backtest = backtest_start(rule=rule, days=3)
    assert len(callbacks) == 1
    backtest_execute(backtest_id=backtest.pk)
    backtest.refresh_from_db()
    assert (backtest.status, backtest.progress, backtest.result["totals"]["points"]) == ("done", 100, 50)
    assert not RuleEffect.objects.exists()
    backtest_execute(backtest_id=backtest.pk + 1000)  # gone: nothing happens
    assert BacktestRun.objects.count() == 1


def test_a_bad_window_is_refused_naming_the_field(tenant_a):
    from backoffice.errors import DomainValidationError

    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT)
    with pytest.raises(DomainValidationError) as exc:
        backtest_start(rule=rule, days=0)
    assert exc.value.errors == {"days": ["A whole number of days from 1 to 90."]}


@pytest.mark.parametrize("period", ["hour", "day", "week", "month", "ever"])
def test_the_sql_period_keys_equal_the_live_ones(period):
    from django.db import connection

    from crm.automation.backtest import PERIOD_SQL
    from crm.automation.rules_cache import period_key

    moments = [dt.datetime(2026, 1, 1, 4, 30, tzinfo=dt.UTC), dt.datetime(2025, 12, 29, 23, 59, tzinfo=dt.UTC),
               dt.datetime(2026, 3, 29, 1, 15, tzinfo=dt.UTC), dt.datetime(2027, 1, 3, 12, 0, tzinfo=dt.UTC)]  # fmt: skip
    for tz in ("UTC", "Pacific/Auckland", "America/Los_Angeles"):
        for at in moments:
            with connection.cursor() as cursor:
                sql = f"SELECT {PERIOD_SQL[period]} FROM (SELECT %s::timestamptz AS occurred_at) e"  # noqa: S608
                cursor.execute(sql, [tz, at])
                assert cursor.fetchone()[0] == period_key(period, at, tz), (period, tz, at)
