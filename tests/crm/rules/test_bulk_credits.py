"""Rule credits written in bulk per page give exactly what `wallet_adjust` one effect at a time gives: the same
ledger, balances, levels, facts, effects and their results, skips, caps and accumulation remainders."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.automation import engine
from crm.models import Event, Player
from crm.models.rules import Accumulator, RuleCounter, RuleEffect, RuleStat
from crm.pipeline import events_apply
from crm.services.ingest import events_ingest
from gamification.models import Badge, BadgeAward, BadgeStage, Level, WalletEntry
from tests.crm.rules.helpers import rule_make
from tests.factories import PlayerFactory
from tests.gamification.ledger_world import ledger_world
from tests.gamification.mission_helpers import event

pytestmark = pytest.mark.django_db

DAY1, DAY2 = "2026-01-05T{}:00:00Z", "2026-01-06T{}:00:00Z"


def _label(tenant) -> None:
    """The same players, levels, badge and rules in a label."""
    label = tenant.label
    for name, extra in (("other", {"core_wallet_currency": "USD"}), ("ctrl", {"ach_gamification_in_control_group": True}),
                        ("gone", {"core_account_status": "SELF_EXCLUDED"})):  # fmt: skip
        PlayerFactory(brand=tenant.brand, label=label, user_ext_id=name, **extra)
    for name, points in (("Bronze", 0), ("Silver", 100), ("Gold", 200)):
        Level.objects.create(label=label, name=name, required_points=points, is_default=points == 0)
    badge = Badge.objects.create(label=label, name="Fan")
    BadgeStage.objects.create(badge=badge, number=1, name="One")
    BadgeStage.objects.create(badge=badge, number=2, name="Two")
    big = [{"field": "deposit_amount", "op": "gte", "value": 100}]
    rule_make(label, name="Fixed", priority=10, conditions=big, activities=[{"type": "points", "amount": 40}])
    rule_make(label, name="Capped", priority=20, conditions=[], cap_count=2, cap_period="day",
              activities=[{"type": "gems", "amount": 3}])  # fmt: skip
    rule_make(label, name="Once", priority=30, conditions=[], once_in_lifetime=True,
              activities=[{"type": "diamonds", "amount": 1}])  # fmt: skip
    rule_make(label, name="Mixed", priority=40, conditions=[],
              activities=[{"type": "points", "expression": "event.deposit_amount / 10"},
                          {"type": "set_marker", "marker": "dep"}])  # fmt: skip
    rule_make(label, name="Acc", priority=50, trigger_type="casino_bet", conditions=[],
              activities=[{"type": "accumulate", "currency": "points", "field": "bet_amount",
                           "per": {"EUR": 7, "USD": 5}, "amount": 2}])  # fmt: skip
    rule_make(label, name="Spend", priority=60, trigger_type="withdrawal", conditions=[],
              activities=[{"type": "points", "amount": 50, "deduct": True}])  # fmt: skip
    rule_make(label, name="Badge", priority=70, trigger_type="login", conditions=[],
              activities=[{"type": "badge", "badge": badge.pk}, {"type": "points", "amount": 5}])  # fmt: skip


def _events() -> list[dict]:
    def dep(n, amount, user="shared-player", at=None):
        return event("deposit", {"deposit_amount": amount}, event_id=f"d{n}", at=at or DAY1.format(10), user=user)

    def bet(n, amount, user="shared-player"):
        payload = {"bet_amount": amount, "game_id": "g1", "game_name": "Book"}
        return event("casino_bet", payload, event_id=f"b{n}", at=DAY1.format(11), user=user)

    def withdrawal(n, user="shared-player"):
        return event("withdrawal", {"withdrawal_amount": 5}, event_id=f"w{n}", at=DAY1.format(12), user=user)

    return [
        dep(1, 150), bet(1, 10), dep(2, 120), dep(3, 50, user="other"), withdrawal(1), bet(2, 11.5),
        dep(4, 300), event("login", {}, event_id="l1", at=DAY1.format(13)), bet(3, 6, user="other"),
        dep(5, 500, user="ctrl"), bet(4, 50, user="ctrl"), dep(6, 500, user="gone"), bet(5, 6, user="other"),
        dep(7, 100, at=DAY2.format("09")), withdrawal(2), withdrawal(3), withdrawal(4), withdrawal(5), withdrawal(6),
        event("login", {}, event_id="l2", at=DAY2.format(13)), event("login", {}, event_id="l3", at=DAY2.format(14)),
        bet(6, 3.3), dep(8, 250, user="other", at=DAY2.format(15)),
    ]  # fmt: skip


def _apply(label) -> tuple[list[int], int]:
    """Ingest the events and run the automation group over them as one page; (event ids, ledger INSERTs)."""
    result = events_ingest(label=label, items=_events(), source="api")
    assert not [i for i in result.items if i.status == "invalid"]
    with CaptureQueriesContext(connection) as queries:
        events_apply(result.new_ids, group_names=["automation"])
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT INTO gamification_walletentry")]
    return result.new_ids, len(inserts)


def _world(label) -> dict:
    """The label's ledger world, and every row the rules wrote, with ids replaced by names."""
    effects = {e.pk: e for e in RuleEffect.objects.filter(label=label).select_related("rule", "player")}
    sent = dict(Event.objects.filter(label=label).values_list("id", "event_id"))
    positions = {e.pk: n for n, e in enumerate(WalletEntry.objects.filter(label=label).order_by("id"))}

    def key_name(key: str):
        match = re.fullmatch(r"rule:(\d+):(\d+)", key)
        if not match:
            return key
        effect = effects[int(match[1])]
        return (effect.rule.name, sent[effect.event_id], int(match[2]))

    def results(effect) -> list[dict]:
        named = {"entry_id": positions.get, "badge": lambda pk: Badge.objects.get(pk=pk).name}
        return [{k: named[k](v) if k in named and v else v for k, v in r.items()} for r in effect.results]

    return {
        **ledger_world(label, key_name=key_name),
        "effects": [
            (e.rule.name, sent[e.event_id], e.player.user_ext_id, e.status, e.reason, results(e))
            for e in sorted(effects.values(), key=lambda e: e.pk)
        ],
        "remainders": sorted(
            Accumulator.objects.filter(rule__label=label).values_list(
                "rule__name", "player__user_ext_id", "currency", "activity", "remainder"
            )
        ),
        "counters": sorted(
            RuleCounter.objects.filter(rule__label=label).values_list(
                "rule__name", "player__user_ext_id", "period", "count"
            )
        ),
        "stats": sorted(
            RuleStat.objects.filter(rule__label=label).values_list(
                "rule__name", "fired", "applied", "skipped", "failed"
            )
        ),
        "markers": sorted(Player.objects.filter(label=label).values_list("user_ext_id", "markers")),
        "badges": sorted(BadgeAward.objects.filter(label=label).values_list("player__user_ext_id", "stage", "source")),
    }


def test_bulk_credits_give_what_one_at_a_time_gives(tenant_a, tenant_b, monkeypatch):
    _label(tenant_a)
    _label(tenant_b)
    ids, bulk_inserts = _apply(tenant_a.label)
    monkeypatch.setattr(engine, "CREDITS_IN_BULK", False)
    _, single_inserts = _apply(tenant_b.label)
    bulk, single = _world(tenant_a.label), _world(tenant_b.label)
    assert bulk == single
    debits = sum(1 for e in bulk["entries"] if e[2] < 0)
    own = sum(1 for e in bulk["entries"] if e[5][0] in ("Spend", "Badge"))  # rules that write as they go
    assert (len(single["entries"]), debits, own) == (29, 4, 7)
    assert single_inserts == 29 + 2  # and two debits refused (rolled back)
    # The other 22 credits went in one statement per run of effects between those rules' effects that gave some.
    assert bulk_inserts == own + 2 + 4
    # What both did, spelled out: skips, caps, refusals, remainders, levels.
    reasons = {(name, event_id): (status, reason) for name, event_id, _, status, reason, _ in bulk["effects"]}
    assert reasons[("Fixed", "d6")] == ("skipped", "not_active: account SELF_EXCLUDED")
    assert reasons[("Fixed", "d5")] == ("skipped", "control_group")
    assert next(r[3] for r in bulk["effects"] if r[0] == "Mixed" and r[1] == "d5") == "applied"  # its marker
    assert reasons[("Capped", "d4")] == ("skipped", "capped")
    assert reasons[("Once", "d2")] == ("skipped", "capped")
    assert reasons[("Spend", "w6")] == ("failed", "insufficient_balance")
    assert bulk["remainders"] == [
        ("Acc", "other", "USD", 0, Decimal(2)),
        ("Acc", "shared-player", "EUR", 0, Decimal("3.8")),
    ]
    levels = [f for f in bulk["facts"] if f[1] == "level_changed" and f[0] == "shared-player"]
    assert [f[3]["level_name"] for f in levels] == ["Bronze", "Silver", "Gold"]
    assert bulk["wallets"]["shared-player"][5] == "Gold"
    # A replay of the page changes nothing.
    monkeypatch.setattr(engine, "CREDITS_IN_BULK", True)
    events_apply(ids, group_names=["automation"])
    assert _world(tenant_a.label) == bulk
