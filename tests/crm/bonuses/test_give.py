"""bonus_give: idempotent per (label, key), refuses accounts that are not ACTIVE, inactive templates and gives past
the daily cap; nothing is written when it refuses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.errors import DomainValidationError, NotFound
from crm.models import Bonus, BonusStatus, DeliveryState
from crm.services.bonuses import (
    AccountNotActive,
    BonusCapReached,
    BonusKeyConflict,
    TemplateInactive,
    bonus_give,
)
from tests.crm.bonuses.conftest import template_make
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def test_a_give_stores_the_bonus_with_its_key_and_the_body_for_the_operator(tenant_a, template):
    bonus = bonus_give(player=tenant_a.player, template=template, source="staff", key="k-1", reason="Sorry")
    assert bonus.created is True
    assert (bonus.status, bonus.delivery_state, bonus.attempts) == (BonusStatus.NEW, DeliveryState.PENDING, 0)
    assert bonus.idempotency_key.startswith("pb-")
    assert len(bonus.idempotency_key) == 35
    assert bonus.request_body == {
        "idempotency_key": bonus.idempotency_key,
        "bonus_id": bonus.pk,
        "bonus_code": "CASH_5_EUR",
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "amount": "5.00",
        "expires_at": bonus.expires_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    assert (bonus.expires_at - bonus.created_at).days == 365
    assert bonus.deliver_until - bonus.created_at == dt.timedelta(hours=1)


def test_the_same_key_gives_once_and_returns_the_first_bonus(tenant_a, template):
    first = bonus_give(player=tenant_a.player, template=template, source="api", key="api:same")
    again = bonus_give(player=tenant_a.player, template=template, source="api", key="api:same")
    assert (again.pk, again.created, again.idempotency_key) == (first.pk, False, first.idempotency_key)
    assert Bonus.objects.count() == 1


def test_a_key_reused_for_another_player_is_a_conflict(tenant_a, template):
    bonus_give(player=tenant_a.player, template=template, source="api", key="api:same")
    other = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label)
    with pytest.raises(BonusKeyConflict):
        bonus_give(player=other, template=template, source="api", key="api:same")
    assert Bonus.objects.count() == 1


def test_keys_are_per_label(tenant_a, tenant_b, template):
    bonus_give(player=tenant_a.player, template=template, source="api", key="api:same")
    other = bonus_give(player=tenant_b.player, template=template_make(tenant_b.label), source="api", key="api:same")
    assert other.created
    assert Bonus.objects.count() == 2


def test_another_labels_template_is_not_found(tenant_a, tenant_b):
    with pytest.raises(NotFound):
        bonus_give(player=tenant_a.player, template=template_make(tenant_b.label), source="api", key="x")
    assert not Bonus.objects.exists()


@pytest.mark.parametrize("status", ["SELF_EXCLUDED", "BLOCKED", "PENDING"])
def test_a_player_who_is_not_active_gets_nothing(tenant_a, template, status):
    tenant_a.player.core_account_status = status
    tenant_a.player.save()
    with pytest.raises(AccountNotActive) as refused:
        bonus_give(player=tenant_a.player, template=template, source="rule", key="rule:1:1")
    assert refused.value.code == "account_not_active"
    assert status in refused.value.message
    assert not Bonus.objects.exists()


def test_the_label_setting_off_lets_players_who_are_not_active_get_bonuses(tenant_a, template):
    tenant_a.label.active_players_only = False
    tenant_a.label.save()
    tenant_a.player.core_account_status = "SUSPENDED"
    tenant_a.player.save()
    assert bonus_give(player=tenant_a.player, template=template, source="rule", key="rule:1:1").created


def test_an_inactive_template_is_refused(tenant_a, template):
    template.is_active = False
    template.save()
    with pytest.raises(TemplateInactive):
        bonus_give(player=tenant_a.player, template=template, source="staff", key="s")
    assert not Bonus.objects.exists()


def test_the_cap_counts_the_last_24_hours_and_not_failed_issues(tenant_a, template):
    tenant_a.label.bonus_daily_cap = 3
    tenant_a.label.save()
    given = [bonus_give(player=tenant_a.player, template=template, source="api", key=f"k{i}") for i in range(3)]
    with pytest.raises(BonusCapReached) as refused:
        bonus_give(player=tenant_a.player, template=template, source="api", key="k3")
    assert refused.value.code == "bonus_cap_reached"
    assert "3 successful bonuses" in refused.value.message
    Bonus.objects.filter(pk=given[0].pk).update(status=BonusStatus.ISSUE_FAILED)  # a failed issue frees its place
    assert bonus_give(player=tenant_a.player, template=template, source="api", key="k3").created
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=24, minutes=1)
    Bonus.objects.filter(pk=given[1].pk).update(created_at=old)  # older than 24 h: no longer counted
    assert bonus_give(player=tenant_a.player, template=template, source="api", key="k4").created
    with pytest.raises(BonusCapReached):
        bonus_give(player=tenant_a.player, template=template, source="api", key="k5")
    # A replayed key is answered even at the cap: it gives nothing new.
    assert bonus_give(player=tenant_a.player, template=template, source="api", key="k4").created is False


def test_the_cap_is_per_player(tenant_a, template):
    tenant_a.label.bonus_daily_cap = 1
    tenant_a.label.save()
    other = PlayerFactory(brand=tenant_a.brand, label=tenant_a.label)
    bonus_give(player=tenant_a.player, template=template, source="api", key="a")
    assert bonus_give(player=other, template=template, source="api", key="b").created


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"key": ""}, "key"),
        ({"key": "k" * 256}, "key"),
        ({"source": "journey"}, "source"),
        ({"reason": "r" * 501}, "reason"),
        ({"amount": Decimal("0")}, "amount"),
        ({"amount": Decimal("1.234")}, "amount"),
        ({"amount": Decimal("NaN")}, "amount"),
    ],
)
def test_bad_arguments_name_the_field_and_write_nothing(tenant_a, template, fields, field):
    arguments = {"player": tenant_a.player, "template": template, "source": "api", "key": "k", **fields}
    with pytest.raises(DomainValidationError) as refused:
        bonus_give(**arguments)
    assert list(refused.value.errors) == [field]
    assert not Bonus.objects.exists()


def test_an_amount_for_this_give_is_sent_instead_of_the_templates(tenant_a, template):
    bonus = bonus_give(player=tenant_a.player, template=template, source="staff", key="k", amount=Decimal("12.50"))
    assert bonus.request_body["amount"] == "12.50"
