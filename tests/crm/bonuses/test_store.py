"""Store items of type bonus: buying one gives the bonus once (keyed by the purchase), and a refused give (account not
ACTIVE, the daily cap, an inactive template) refuses the purchase: nothing is debited."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import Bonus
from crm.services.bonus_delivery import bonus_deliver
from crm.services.bonuses import AccountNotActive, BonusCapReached, bonus_give
from gamification.models import StoreItem, StorePurchase
from gamification.selectors import wallet_get
from gamification.services.store import store_purchase
from integrations.models import SandboxBonus
from tests.crm.bonuses.conftest import template_make
from tests.gamification.store_helpers import fund, item_make

pytestmark = pytest.mark.django_db
BASE = "/api/v1/players/shared-brand/shared-player/store"


@pytest.fixture
def bonus_item(tenant_a, template) -> StoreItem:
    return item_make(tenant_a.label, name="Five euros", type="bonus", bonus_template=template, price=10)


def test_buying_a_bonus_item_gives_the_bonus_once(tenant_a, bonus_item, template, sandbox):
    fund(tenant_a.player, 25)
    result = store_purchase(player=tenant_a.player, item=bonus_item, key="buy-1")
    bonus = Bonus.objects.get()
    assert (bonus.source, bonus.key, bonus.template, bonus.reason) == (
        "store", f"store:{result.purchase.pk}", template, "Store: Five euros",
    )  # fmt: skip
    assert wallet_get(player=tenant_a.player).points == 15
    assert store_purchase(player=tenant_a.player, item=bonus_item, key="buy-1").created is False
    assert Bonus.objects.count() == 1
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"
    assert SandboxBonus.objects.get().bonus_code == "CASH_5_EUR"


def test_a_refused_bonus_refuses_the_purchase_and_debits_nothing(tenant_a, bonus_item):
    fund(tenant_a.player, 25)
    tenant_a.player.core_account_status = "SUSPENDED"
    tenant_a.player.save()
    with pytest.raises(AccountNotActive):
        store_purchase(player=tenant_a.player, item=bonus_item, key="buy-1")
    assert wallet_get(player=tenant_a.player).points == 25
    assert not StorePurchase.objects.exists()
    assert not Bonus.objects.exists()


def test_the_daily_cap_refuses_the_purchase(tenant_a, bonus_item, template):
    tenant_a.label.bonus_daily_cap = 1
    tenant_a.label.save()
    fund(tenant_a.player, 25)
    bonus_give(player=tenant_a.player, template=template, source="staff", key="earlier")
    with pytest.raises(BonusCapReached):
        store_purchase(player=tenant_a.player, item=bonus_item, key="buy-1")
    assert wallet_get(player=tenant_a.player).points == 25
    assert not StorePurchase.objects.exists()


def test_the_api_answers_the_bonus_refusal_code_and_keeps_the_balance(tenant_a, bonus_item, key_client):
    fund(tenant_a.player, 25)
    tenant_a.player.core_account_status = "BLOCKED"
    tenant_a.player.save()
    response = key_client.post(f"{BASE}/purchases", {"item_id": bonus_item.pk, "idempotency_key": "b1"}, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "account_not_active")
    assert wallet_get(player=tenant_a.player).points == 25


def test_the_store_lists_what_a_bonus_item_gives(tenant_a, bonus_item, key_client):
    [item] = key_client.get(BASE).json()
    assert item["type"] == "bonus"
    assert item["bonus"] == {"name": "Cash 5 Eur", "type": "cash", "amount": "5.00", "icon_url": "", "expiry_days": 365}


def test_a_bonus_item_needs_a_template_of_its_label(tenant_a, tenant_b):
    item = StoreItem(label=tenant_a.label, name="X", type="bonus", price=1, currency="points")
    with pytest.raises(ValidationError) as missing:
        item.clean()
    assert "bonus_template" in missing.value.message_dict
    item.bonus_template = template_make(tenant_b.label)
    with pytest.raises(ValidationError) as foreign:
        item.clean()
    assert "bonus_template" in foreign.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        item_make(tenant_a.label, type="tangible", bonus_template=template_make(tenant_a.label))
