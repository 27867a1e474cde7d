"""Players whose account is not ACTIVE earn nothing automated: the wallet withholds and records it."""

from __future__ import annotations

import pytest

from crm.models import Event
from gamification.models import Level, WalletEntry, WithheldCredit
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db


def _inactive(tenant, status="SELF_EXCLUDED"):
    tenant.player.core_account_status = status
    tenant.player.save(update_fields=["core_account_status"])
    return tenant.player


@pytest.mark.parametrize("source", ["mission", "tournament", "rule", "journey"])
def test_an_automated_credit_to_a_player_not_active_is_withheld_and_recorded_once(tenant_a, source):
    Level.objects.create(label=tenant_a.label, name="Silver", required_points=10)
    player = _inactive(tenant_a)
    result = wallet_adjust(player=player, currency="points", amount=50, source=source, key="k1", reason="Mission X")
    again = wallet_adjust(player=player, currency="points", amount=50, source=source, key="k1", reason="Mission X")
    assert (result.created, result.entry, again.created) == (False, None, False)
    assert result.withheld == again.withheld
    withheld = WithheldCredit.objects.get()
    assert (withheld.player, withheld.currency, withheld.amount, withheld.source, withheld.reason) == (
        player,
        "points",
        50,
        source,
        "Mission X",
    )
    assert (withheld.key, withheld.account_status, withheld.label) == ("k1", "SELF_EXCLUDED", tenant_a.label)
    wallet = wallet_get(player=player)
    assert (wallet.points, wallet.points_earned, wallet.level) == (0, 0, None)
    assert not WalletEntry.objects.exists()
    assert not Event.objects.filter(type__in=["balance_changed", "level_changed"]).exists()


def test_staff_the_operator_refunds_and_debits_still_apply_to_a_player_not_active(tenant_a):
    player = _inactive(tenant_a, "BLOCKED")
    wallet_adjust(player=player, currency="points", amount=20, source="manual", key="staff", reason="goodwill")
    wallet_adjust(player=player, currency="gems", amount=5, source="api", key="operator")
    wallet_adjust(player=player, currency="points", amount=7, source="tournament", key="refund", counts_as_earned=False)
    wallet_adjust(player=player, currency="points", amount=-3, source="store", key="buy")
    wallet = wallet_get(player=player)
    assert (wallet.points, wallet.points_earned, wallet.gems) == (24, 20, 5)
    assert not WithheldCredit.objects.exists()


def test_the_label_setting_off_lets_players_not_active_earn(tenant_a):
    tenant_a.label.active_players_only = False
    tenant_a.label.save(update_fields=["active_players_only"])
    player = _inactive(tenant_a)
    assert wallet_adjust(player=player, currency="points", amount=5, source="mission", key="k").created
    assert wallet_get(player=player).points == 5
    assert not WithheldCredit.objects.exists()


def test_a_credit_already_applied_while_active_replays_and_is_not_withheld(tenant_a):
    first = wallet_adjust(player=tenant_a.player, currency="points", amount=5, source="mission", key="k")
    player = _inactive(tenant_a)
    again = wallet_adjust(player=player, currency="points", amount=5, source="mission", key="k")
    assert (again.created, again.entry, again.withheld) == (False, first.entry, None)
    assert not WithheldCredit.objects.exists()


def test_an_active_player_of_another_label_is_not_affected(tenant_a, tenant_b):
    _inactive(tenant_a)
    assert wallet_adjust(player=tenant_b.player, currency="points", amount=5, source="mission", key="k").created
    assert wallet_get(player=tenant_b.player).points == 5


def test_bulk_callers_record_what_they_withheld_once_per_key(tenant_a, tenant_b):
    from gamification.services.wallet import Withheld, credits_withheld_record

    a, b = _inactive(tenant_a), _inactive(tenant_b, "BANNED")
    credits = [
        Withheld(a, "points", 10, "mission", "mission:1:points", "Mission 1"),
        Withheld(a, "gems", 2, "mission", "mission:1:gems", "Mission 1"),
        Withheld(b, "points", 10, "mission", "mission:1:points", "Mission 1"),  # same key, another label
    ]
    assert credits_withheld_record(credits=credits) == 3
    assert credits_withheld_record(credits=credits) == 0
    assert credits_withheld_record(credits=[]) == 0
    rows = sorted(WithheldCredit.objects.values_list("label_id", "key", "amount", "account_status"))
    assert rows == sorted([
        (tenant_a.label.pk, "mission:1:gems", 2, "SELF_EXCLUDED"),
        (tenant_a.label.pk, "mission:1:points", 10, "SELF_EXCLUDED"),
        (tenant_b.label.pk, "mission:1:points", 10, "BANNED"),
    ])  # fmt: skip
