"""Rewards given in bulk: each once per key, balances and their facts, the level that follows, badge stages."""

from __future__ import annotations

import pytest

from crm.models import Event, Player
from gamification.models import Badge, BadgeAward, BadgeStage, Level, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.rewards import Reward, rewards_give
from gamification.services.wallet import wallet_adjust
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def _facts(player, type_) -> list[dict]:
    return [e.payload for e in Event.objects.filter(player=player, type=type_).order_by("id")]


def test_a_replayed_batch_gives_nothing_twice(tenant_a):
    reward = Reward(player=tenant_a.player, key="mission:1", source="mission", reason="M", points=10, gems=2)
    rewards_give(rewards=[reward])
    rewards_give(rewards=[reward])
    wallet = wallet_get(player=tenant_a.player)
    assert (wallet.points, wallet.points_earned, wallet.points_tournament, wallet.gems) == (10, 10, 10, 2)
    assert sorted(WalletEntry.objects.values_list("key", "amount", "counts_as_earned")) == [
        ("mission:1:gems", 2, False),
        ("mission:1:points", 10, True),
    ]
    assert len(_facts(tenant_a.player, "balance_changed")) == 2


def test_each_entry_of_a_batch_has_its_fact_with_the_balance_right_after_it(tenant_a):
    wallet_adjust(player=tenant_a.player, currency="points", amount=5, source="manual", key="start", reason="r")
    rewards_give(
        rewards=[
            Reward(player=tenant_a.player, key="mission:1", source="mission", points=10),
            Reward(player=tenant_a.player, key="mission:2", source="mission", points=7, diamonds=1),
        ]
    )
    facts = _facts(tenant_a.player, "balance_changed")
    entries = dict(WalletEntry.objects.values_list("key", "id"))
    # In the order the entries were claimed (by key), each with the balance right after it.
    assert [(f["currency"], f["amount"], f["balance"], f["source"], f["entry_id"]) for f in facts[1:]] == [
        ("points", 10, 15, "mission", entries["mission:1:points"]),
        ("diamonds", 1, 1, "mission", entries["mission:2:diamonds"]),
        ("points", 7, 22, "mission", entries["mission:2:points"]),
    ]
    assert wallet_get(player=tenant_a.player).points == 22


def test_the_level_follows_the_points_earned_once(tenant_a):
    bronze = Level.objects.create(label=tenant_a.label, name="Bronze", required_points=0, is_default=True)
    silver = Level.objects.create(label=tenant_a.label, name="Silver", required_points=20)
    Level.objects.create(label=tenant_a.label, name="Gold", required_points=100)
    wallet_adjust(player=tenant_a.player, currency="points", amount=5, source="manual", key="start", reason="r")
    rewards_give(rewards=[Reward(player=tenant_a.player, key="mission:1", source="mission", points=30)])
    rewards_give(rewards=[Reward(player=tenant_a.player, key="mission:2", source="mission", gems=30)])
    assert wallet_get(player=tenant_a.player).level_id == silver.pk
    entry = WalletEntry.objects.get(key="mission:1:points")
    levels = Event.objects.filter(player=tenant_a.player, type="level_changed").order_by("id")
    assert [(e.event_id, e.payload) for e in levels][-1] == (
        f"level:{tenant_a.player.pk}:{silver.pk}:{entry.pk}",
        {
            "level_id": silver.pk,
            "level_name": "Silver",
            "previous_level_id": bronze.pk,
            "previous_level_name": "Bronze",
        },
    )
    assert levels.count() == 2  # the default level on the first credit, then silver


def test_badges_rise_a_stage_per_reward_up_to_their_last(tenant_a):
    badge = Badge.objects.create(label=tenant_a.label, name="Spinner")
    BadgeStage.objects.create(badge=badge, number=1, name="Bronze")
    BadgeStage.objects.create(badge=badge, number=2, name="Silver")
    off = Badge.objects.create(label=tenant_a.label, name="Retired", is_active=False)
    rewards_give(
        rewards=[
            Reward(player=tenant_a.player, key=f"mission:{n}", source="mission", badge=b)
            for n, b in enumerate([badge, badge, badge, off])
        ]
    )
    assert list(BadgeAward.objects.order_by("stage").values_list("badge_id", "stage", "key", "source")) == [
        (badge.pk, 1, "mission:0:badge", "mission"),
        (badge.pk, 2, "mission:1:badge", "mission"),
    ]
    assert [(f["stage"], f.get("stage_name")) for f in _facts(tenant_a.player, "badge_earned")] == [
        (1, "Bronze"),
        (2, "Silver"),
    ]
    rewards_give(rewards=[Reward(player=tenant_a.player, key="mission:0", source="mission", badge=badge)])
    assert BadgeAward.objects.count() == 2


def test_control_group_and_players_not_active_get_nothing(tenant_a):
    control = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, ach_gamification_in_control_group=True)
    excluded = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, core_account_status="SELF_EXCLUDED")
    rewards_give(
        rewards=[
            Reward(player=p, key=f"mission:{p.pk}", source="mission", points=5)
            for p in (control, excluded, tenant_a.player)
        ]
    )
    assert list(WalletEntry.objects.values_list("player_id", flat=True)) == [tenant_a.player.pk]
    assert Player.objects.get(pk=tenant_a.player.pk).wallet.points == 5
