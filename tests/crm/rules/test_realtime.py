"""Real-time rules in the `automation` group: each activity, audience and account status, caps, replays."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crm.models import Player
from crm.models.rules import Accumulator, RuleEffect, RuleStat, RuleStatus
from crm.pipeline import events_apply
from gamification.models import Badge, BadgeAward, PlayerMission, WalletEntry, WithheldCredit
from gamification.selectors import wallet_get
from tests.crm.rules.helpers import bet, deposit, feed, rule_make
from tests.gamification.mission_helpers import mission_make

pytestmark = pytest.mark.django_db


def _points(player) -> int:
    return wallet_get(player=player).points


def test_a_matching_deposit_credits_points_once_and_records_the_effect(tenant_a):
    rule = rule_make(tenant_a.label)
    ids = feed(tenant_a.label, [deposit(150), deposit(99)])
    assert _points(tenant_a.player) == 50
    effect = RuleEffect.objects.get()
    entry = WalletEntry.objects.get()
    assert (effect.rule, effect.event_id, effect.player, effect.status) == (rule, ids[0], tenant_a.player, "applied")
    assert effect.results == [
        {"activity": 0, "type": "points", "status": "applied", "amount": 50, "currency": "points", "entry_id": entry.pk}
    ]
    assert (entry.source, entry.key, entry.reason) == ("rule", f"rule:{effect.pk}:0", f"Rule: {rule.name}")
    stat = RuleStat.objects.get()
    assert (stat.fired, stat.applied, stat.skipped, stat.failed) == (1, 1, 0, 0)


def test_replaying_the_same_events_applies_each_effect_once(tenant_a):
    rule_make(tenant_a.label)
    rule_make(tenant_a.label, activities=[{"type": "gems", "amount": 3}])
    ids = feed(tenant_a.label, [deposit(150), deposit(200)])
    events_apply(ids)
    events_apply(ids, group_names=["automation"])
    wallet = wallet_get(player=tenant_a.player)
    assert (wallet.points, wallet.gems) == (100, 6)
    assert RuleEffect.objects.count() == 4
    assert WalletEntry.objects.count() == 4
    assert sum(RuleStat.objects.values_list("fired", flat=True)) == 4


def test_deduct_and_the_other_currencies(tenant_a):
    rule_make(tenant_a.label, activities=[{"type": "points", "amount": 80}, {"type": "diamonds", "amount": 2}])
    rule_make(
        tenant_a.label,
        trigger_type="withdrawal",
        conditions=[],
        activities=[{"type": "points", "amount": 30, "deduct": True}],
    )
    feed(tenant_a.label, [deposit(100), {**deposit(1), "type": "withdrawal", "payload": {"withdrawal_amount": 5}}])
    wallet = wallet_get(player=tenant_a.player)
    assert (wallet.points, wallet.diamonds) == (50, 2)


def test_a_deduct_beyond_the_balance_fails_and_changes_nothing(tenant_a):
    rule = rule_make(tenant_a.label, conditions=[], activities=[{"type": "points", "amount": 30, "deduct": True}])
    feed(tenant_a.label, [deposit(5)])
    effect = RuleEffect.objects.get(rule=rule)
    assert (effect.status, effect.reason) == ("failed", "insufficient_balance")
    assert effect.results[0]["status"] == "refused"
    assert not WalletEntry.objects.exists()
    assert RuleStat.objects.get().failed == 1


def test_markers_are_set_and_removed(tenant_a):
    rule_make(tenant_a.label, activities=[{"type": "set_marker", "marker": "vip"}])
    rule_make(tenant_a.label, trigger_type="login", conditions=[],
              activities=[{"type": "remove_marker", "marker": "vip"}])  # fmt: skip
    feed(tenant_a.label, [deposit(500), deposit(600)])
    assert Player.objects.get(pk=tenant_a.player.pk).markers == ["vip"]
    feed(tenant_a.label, [{**deposit(1), "type": "login", "payload": {}}])
    assert Player.objects.get(pk=tenant_a.player.pk).markers == []


def test_award_badge_and_give_mission(tenant_a):
    badge = Badge.objects.create(label=tenant_a.label, name="Depositor")
    mission = mission_make(tenant_a.label, type="locked", unlock_event_type="client_action", tasks=[{"target": 3}])
    rule_make(tenant_a.label, activities=[{"type": "badge", "badge": badge.pk}, {"type": "mission",
              "mission": mission.pk}])  # fmt: skip
    feed(tenant_a.label, [deposit(100)])
    award = BadgeAward.objects.get()
    assert (award.player, award.badge, award.source, award.stage) == (tenant_a.player, badge, "rule", 1)
    run = PlayerMission.objects.get()
    assert (run.player, run.mission, run.state) == (tenant_a.player, mission, "available")
    feed(tenant_a.label, [deposit(100)])  # second firing: the badge has one stage, the mission is already open
    effects = list(RuleEffect.objects.order_by("id"))
    assert [e.status for e in effects] == ["applied", "applied"]
    assert effects[1].results[0]["status"] == "refused"
    assert effects[1].results[1]["status"] == "nothing"
    assert (BadgeAward.objects.count(), PlayerMission.objects.count()) == (1, 1)


def test_a_player_not_active_is_skipped_with_the_reason(tenant_a):
    tenant_a.player.core_account_status = "SELF_EXCLUDED"
    tenant_a.player.save(update_fields=["core_account_status"])
    rule_make(tenant_a.label, activities=[{"type": "points", "amount": 50}, {"type": "set_marker", "marker": "x"}])
    feed(tenant_a.label, [deposit(100)])
    effect = RuleEffect.objects.get()
    assert (effect.status, effect.reason) == ("skipped", "not_active: account SELF_EXCLUDED")
    assert Player.objects.get(pk=tenant_a.player.pk).markers == []
    assert not WalletEntry.objects.exists()
    assert not WithheldCredit.objects.exists()
    assert RuleStat.objects.get().skipped == 1


def test_with_the_label_setting_off_a_player_not_active_gets_the_effect(tenant_a):
    tenant_a.label.active_players_only = False
    tenant_a.label.save(update_fields=["active_players_only"])
    tenant_a.player.core_account_status = "BLOCKED"
    tenant_a.player.save(update_fields=["core_account_status"])
    rule_make(tenant_a.label, activities=[{"type": "set_marker", "marker": "x"}])
    feed(tenant_a.label, [deposit(100)])
    assert RuleEffect.objects.get().status == "applied"
    assert Player.objects.get(pk=tenant_a.player.pk).markers == ["x"]


def test_control_group_players_are_skipped_by_gamification_rules(tenant_a):
    Player.objects.filter(pk=tenant_a.player.pk).update(ach_gamification_in_control_group=True)
    rule_make(tenant_a.label)
    marker = rule_make(tenant_a.label, activities=[{"type": "set_marker", "marker": "seen"}])
    feed(tenant_a.label, [deposit(100)])
    assert {(e.rule_id, e.status, e.reason) for e in RuleEffect.objects.all()} == {
        (marker.pk - 1, "skipped", "control_group"),
        (marker.pk, "applied", ""),
    }
    assert _points(tenant_a.player) == 0


def test_once_in_a_lifetime(tenant_a):
    rule_make(tenant_a.label, once_in_lifetime=True)
    feed(tenant_a.label, [deposit(100), deposit(100, at="2026-02-05T12:00:00Z")])
    assert _points(tenant_a.player) == 50
    assert list(RuleEffect.objects.order_by("id").values_list("status", "reason")) == [
        ("applied", ""),
        ("skipped", "capped"),
    ]


def test_a_frequency_cap_per_day_in_the_label_time_zone(tenant_a):
    tenant_a.label.time_zone = "Asia/Tokyo"  # UTC+9: 16:00Z on the 5th is the 6th there
    tenant_a.label.save(update_fields=["time_zone"])
    rule_make(tenant_a.label, cap_count=2, cap_period="day")
    times = ["2026-01-05T01:00:00Z", "2026-01-05T02:00:00Z", "2026-01-05T03:00:00Z", "2026-01-05T16:00:00Z"]
    feed(tenant_a.label, [deposit(100, at=t) for t in times])
    assert list(RuleEffect.objects.order_by("id").values_list("status", flat=True)) == [
        "applied", "applied", "skipped", "applied"
    ]  # fmt: skip
    assert _points(tenant_a.player) == 150


def test_accumulation_carries_the_remainder_exactly_per_wallet_currency(tenant_a, tenant_b):
    rule = rule_make(
        tenant_a.label,
        trigger_type="casino_bet",
        conditions=[],
        activities=[
            {
                "type": "accumulate",
                "currency": "points",
                "field": "bet_amount",
                "per": {"EUR": 10, "USD": 12},
                "amount": 1,
            }
        ],
    )
    feed(tenant_a.label, [bet(7.3), bet(7.3), bet(5.5), bet(0.1)])  # 7.3, 14.6 -> 1 (4.6), 10.1 -> 1 (0.1), 0.2
    assert _points(tenant_a.player) == 2
    acc = Accumulator.objects.get(rule=rule)
    assert (acc.currency, acc.remainder) == ("EUR", Decimal("0.2"))
    Player.objects.filter(pk=tenant_a.player.pk).update(core_wallet_currency="GBP")
    feed(tenant_a.label, [bet(50)])  # no rate for GBP: nothing
    assert _points(tenant_a.player) == 2
    assert RuleEffect.objects.order_by("-id").first().results[0]["code"] == "no_rate"


def test_pausing_a_rule_stops_it_at_the_next_batch(tenant_a):
    rule = rule_make(tenant_a.label)
    feed(tenant_a.label, [deposit(100)])
    from crm.services.rules import rule_transition

    rule_transition(rule=rule, to=RuleStatus.PAUSED)
    feed(tenant_a.label, [deposit(100)])
    assert _points(tenant_a.player) == 50


def test_rules_of_another_label_do_not_fire(tenant_a, tenant_b):
    rule_make(tenant_b.label)
    feed(tenant_a.label, [deposit(100)])
    assert not RuleEffect.objects.exists()


def test_rules_fire_in_priority_order(tenant_a):
    late = rule_make(tenant_a.label, priority=20, activities=[{"type": "points", "amount": 5, "deduct": True}])
    early = rule_make(tenant_a.label, priority=10, activities=[{"type": "points", "amount": 5}])
    feed(tenant_a.label, [deposit(100)])
    # the credit ran first, so the deduction found a balance
    assert list(RuleEffect.objects.order_by("id").values_list("rule_id", "status")) == [
        (early.pk, "applied"),
        (late.pk, "applied"),
    ]
    assert _points(tenant_a.player) == 0


def test_an_expression_computes_the_amount_from_the_event_and_the_state(tenant_a):
    rule_make(tenant_a.label, conditions=[], activities=[{"type": "points", "expression": "event.deposit_amount / 10"}])
    rule_make(
        tenant_a.label,
        trigger_type="login",
        conditions=[],
        activities=[{"type": "gems", "expression": "state.points * 2"}],
    )
    feed(tenant_a.label, [deposit(125.5), deposit(5)])  # 12.55 -> 12; 0.5 -> nothing
    assert _points(tenant_a.player) == 12
    assert RuleEffect.objects.order_by("id").last().results[0] == {
        "activity": 0, "type": "points", "status": "nothing", "amount": 0
    }  # fmt: skip
    feed(tenant_a.label, [{**deposit(1), "type": "login", "payload": {}}])
    assert wallet_get(player=tenant_a.player).gems == 24


def test_the_audience_limits_who_gets_the_effect(tenant_a):
    from crm.services.segments import segment_save
    from tests.factories import PlayerFactory

    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="greek", user_country="GR")
    malta = segment_save(label=tenant_a.label, name="Malta", conditions={"all": [{"field": "user_country", "op": "eq",
                         "value": "MT"}]})  # fmt: skip
    by_segment = rule_make(tenant_a.label, segment=malta)
    by_tree = rule_make(
        tenant_a.label, segment_conditions={"all": [{"field": "user_country", "op": "eq", "value": "GR"}]}
    )
    feed(tenant_a.label, [deposit(100), deposit(100, user="greek")])
    assert set(RuleEffect.objects.values_list("rule_id", "player__user_ext_id")) == {
        (by_segment.pk, "shared-player"),
        (by_tree.pk, "greek"),
    }


def test_an_active_rule_cannot_name_another_labels_segment(tenant_a, tenant_b):
    from backoffice.errors import DomainValidationError
    from crm.services.segments import segment_save

    other = segment_save(label=tenant_b.label, name="B", conditions={"all": []})
    with pytest.raises(DomainValidationError) as exc:
        rule_make(tenant_a.label, segment=other)
    assert exc.value.errors == {"segment": ["Choose a segment of the rule's own label."]}


def test_a_segment_lists_the_rules_limited_to_it(tenant_a):
    from crm.services.segments import segment_save, segment_uses

    malta = segment_save(label=tenant_a.label, name="Malta", conditions={"all": []})
    rule = rule_make(tenant_a.label, segment=malta, status=RuleStatus.DRAFT)
    assert ("Rule", rule) in segment_uses(segment=malta)


def test_firing_every_activity_decrypts_no_email_or_phone(tenant_a, settings):
    from unittest import mock

    from backoffice import fields

    Player.objects.filter(pk=tenant_a.player.pk).update(user_email="p@example.com", user_phone="+46700000000")
    badge = Badge.objects.create(label=tenant_a.label, name="Depositor")
    mission = mission_make(tenant_a.label, type="locked", unlock_event_type="client_action", tasks=[{"target": 3}])
    rule_make(tenant_a.label, activities=[
        {"type": "points", "amount": 5}, {"type": "set_marker", "marker": "vip"}, {"type": "badge", "badge": badge.pk},
        {"type": "mission", "mission": mission.pk},
        {"type": "webhook", "url": "http://127.0.0.1:9/hook", "body": {"who": "{{player.core_username}}"}},
    ])  # fmt: skip
    with mock.patch.object(fields, "decrypt", wraps=fields.decrypt) as spy:
        feed(tenant_a.label, [deposit(100)])
    assert [r["status"] for r in RuleEffect.objects.get().results] == ["applied"] * 5
    assert spy.call_count == 0  # the player's email and phone are neither read nor decrypted
    player = Player.objects.get(pk=tenant_a.player.pk)
    assert (player.user_email, player.user_phone, player.markers) == ("p@example.com", "+46700000000", ["vip"])
