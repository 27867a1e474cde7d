"""The set-based backtest (one SQL statement, `crm.automation.backtest_sql`) gives exactly what replaying the events
one by one gives, over random rules, players and events: caps of every period, once in a lifetime, accumulations
with fixed and per-currency rates, values exact and not, a field missing, players left out."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from crm.automation import backtest
from crm.automation.backtest import backtest_run
from crm.models.rules import RuleStatus
from crm.services.ingest import events_ingest
from tests.crm.rules.helpers import rule_make
from tests.factories import PlayerFactory
from tests.gamification.mission_helpers import event

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.UTC)
VALUES = [7.3, 0.5, 12.25, 3, 9.9, 40, 1.5, 8.8, 0.123456789, 19.99, 1e-9, 2.000000005, 0.3333333333333333, 10**12 - 1,
          12.345678905, 0, 5.0, 1e3, 0.1 + 0.2]  # fmt: skip


def _players(tenant) -> list[str]:
    kinds = [{}, {"core_wallet_currency": "USD"}, {"core_wallet_currency": "GBP"},
             {"core_account_status": "BLOCKED"}, {"ach_gamification_in_control_group": True}, {}]  # fmt: skip
    for n, extra in enumerate(kinds):
        PlayerFactory(brand=tenant.brand, label=tenant.label, user_ext_id=f"p{n}", **extra)
    return ["shared-player"] + [f"p{n}" for n in range(len(kinds))]


def _events(rng: random.Random, users: list[str]) -> list[dict]:
    items = []
    for n in range(250):
        at = NOW - dt.timedelta(minutes=rng.randrange(40 * 24 * 60))  # some before the 30-day window
        payload = {"game_id": "g", "game_name": "Book", "bet_amount": rng.choice(VALUES)}
        if rng.random() < 0.5:  # else missing
            payload["bet_amount_bonus"] = rng.choice([1, 2.5, 1000.125, 0.1])
        items.append(event("casino_bet", payload, event_id=f"e{n}", at=at.isoformat(), user=rng.choice(users)))
    return items


def _rule(rng: random.Random, label, n: int):
    activities = [rng.choice([{"type": "points", "amount": 5}, {"type": "gems", "amount": 2, "deduct": True},
                              {"type": "set_marker", "marker": "m"}, {"type": "diamonds", "amount": 1}])]  # fmt: skip
    for _ in range(rng.randrange(3)):
        per = rng.choice([10, 0.7, 3.33333333, {"EUR": 10, "USD": 12.5}, {"EUR": 0.1}])
        field = rng.choice(["bet_amount", "bet_amount", "bet_amount_bonus"])
        activities.append({"type": "accumulate", "currency": rng.choice(["points", "gems"]), "field": field,
                           "per": per, "amount": rng.choice([1, 3])})  # fmt: skip
    caps = rng.choice([{}, {"once_in_lifetime": True}, {"cap_count": rng.choice([1, 2, 3])}])
    if "cap_count" in caps:
        caps["cap_period"] = rng.choice(["hour", "day", "week", "month", "ever"])
        caps["once_in_lifetime"] = rng.random() < 0.2
    conditions = rng.choice([[], [{"field": "bet_amount", "op": "gte", "value": 1}]])
    return rule_make(label, status=RuleStatus.DRAFT, name=f"R{n}", trigger_type="casino_bet", conditions=conditions,
                     activities=activities, **caps)  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_the_sql_backtest_equals_the_replay(tenant_a, seed, monkeypatch):
    rng = random.Random(seed)
    tenant_a.label.time_zone = rng.choice(["UTC", "Pacific/Auckland", "America/New_York"])
    tenant_a.label.save(update_fields=["time_zone"])
    users = _players(tenant_a)
    result = events_ingest(label=tenant_a.label, items=_events(rng, users), source="api")
    assert not [i for i in result.items if i.status == "invalid"], [i.errors for i in result.items][:3]
    for n in range(4):
        rule = _rule(rng, tenant_a.label, n)
        aggregated = backtest_run(rule=rule, days=30, now=NOW)
        monkeypatch.setattr(backtest, "AGGREGATE_IN_SQL", False)
        replayed = backtest_run(rule=rule, days=30, now=NOW)
        monkeypatch.setattr(backtest, "AGGREGATE_IN_SQL", True)
        assert aggregated == replayed, (rule.activities, rule.cap_count, rule.cap_period, rule.once_in_lifetime)
        assert replayed["totals"]["matched"] > 0


def test_a_decimal_longer_than_a_double_counts_as_the_live_path_reads_it(tenant_a, monkeypatch):
    """A payload written by other means than ingest (a replica, COPY) may hold more digits than a double: the live
    path reads the double (2.0000000049999999999 is 2.000000005, which rounds up to 2.00000001 at 8 decimals)."""
    from django.db import connection

    rule = rule_make(tenant_a.label, status=RuleStatus.DRAFT, trigger_type="casino_bet", conditions=[],
                     activities=[{"type": "accumulate", "currency": "points", "field": "bet_amount",
                                  "per": 2.00000001, "amount": 1}])  # fmt: skip
    ids = events_ingest(label=tenant_a.label, source="api", items=[
        event("casino_bet", {"bet_amount": 1, "game_id": "g", "game_name": "B"}, event_id="long",
              at=(NOW - dt.timedelta(days=1)).isoformat())]).new_ids  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("""UPDATE crm_event SET payload = '{"bet_amount": 2.0000000049999999999, "game_id": "g",
                          "game_name": "B"}'::jsonb WHERE id = %s""", [ids[0]])  # fmt: skip
    aggregated = backtest_run(rule=rule, days=30, now=NOW)
    monkeypatch.setattr(backtest, "AGGREGATE_IN_SQL", False)
    assert backtest_run(rule=rule, days=30, now=NOW) == aggregated
    assert aggregated["totals"]["points"] == 1
