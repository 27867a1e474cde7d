"""Store items of type bonus: buying one gives the bonus once (keyed by the purchase), and a refused give (account not
ACTIVE, the daily cap, an inactive template) refuses the purchase: nothing is debited."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import Bonus
from crm.services.bonus_delivery import bonus_deliver
from crm.services.bonuses import AccountNotActive, BonusCapReached, NotResendable, bonus_give, bonus_resend
from gamification.models import StoreItem, StorePurchase, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.store import purchases_in_period, store_purchase
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


# --- a bonus the operator never issues: the purchase is paid back once ------------------------------------------------
@pytest.fixture
def unknown_item(tenant_a) -> StoreItem:
    """A bonus item whose code the sandbox operator does not know: its issue fails for good (404 unknown_bonus)."""
    template = template_make(tenant_a.label, code="NOT_IN_THE_CATALOGUE")
    return item_make(tenant_a.label, name="Mystery bonus", type="bonus", bonus_template=template, price=10, stock=3)


def test_a_bonus_that_fails_to_issue_pays_the_purchase_back_once(tenant_a, unknown_item, sandbox):
    fund(tenant_a.player, 25)
    earned_before = wallet_get(player=tenant_a.player).points_earned
    purchase = store_purchase(player=tenant_a.player, item=unknown_item, key="buy-1").purchase
    assert (wallet_get(player=tenant_a.player).points, StoreItem.objects.get().stock) == (15, 2)
    bonus = Bonus.objects.get()
    assert bonus_deliver(bonus_id=bonus.pk) == "issue_failed"
    purchase.refresh_from_db()
    wallet = wallet_get(player=tenant_a.player)
    assert (purchase.status, wallet.points, wallet.points_earned) == ("refunded", 25, earned_before)
    refund = purchase.refund_entry
    assert (refund.amount, refund.source, refund.key, refund.counts_as_earned) == (
        10, "store", f"store-refund:{purchase.pk}", False,
    )  # fmt: skip
    assert refund.reason == "Refund: the bonus Not In The Catalogue was not issued by the operator"
    assert StoreItem.objects.get().stock == 3  # the stock it took is back
    # Nothing runs twice: the bonus is done, the refund's key is taken.
    assert bonus_deliver(bonus_id=bonus.pk) is None
    assert WalletEntry.objects.filter(player=tenant_a.player, key__startswith="store-refund:").count() == 1
    assert wallet_get(player=tenant_a.player).points == 25
    # A refunded purchase no longer counts toward the item's cap, and the player can buy the item again.
    assert purchases_in_period(player=tenant_a.player, item=unknown_item, now=purchase.created_at) == 0


def test_a_refunded_store_bonus_is_not_resendable(tenant_a, unknown_item, sandbox):
    fund(tenant_a.player, 25)
    store_purchase(player=tenant_a.player, item=unknown_item, key="buy-1")
    bonus = Bonus.objects.get()
    bonus_deliver(bonus_id=bonus.pk)
    with pytest.raises(NotResendable) as refused:
        bonus_resend(bonus=Bonus.objects.get())
    assert refused.value.message == (
        "A bonus bought in the store is paid back when its issue fails: the player buys it again."
    )
    assert Bonus.objects.get().status == "issue_failed"


def test_a_capped_item_can_be_bought_again_after_a_refund(tenant_a, sandbox):
    template = template_make(tenant_a.label, code="NOT_IN_THE_CATALOGUE")
    item = item_make(tenant_a.label, type="bonus", bonus_template=template, price=10, cap_count=1, cap_period="ever")
    fund(tenant_a.player, 25)
    store_purchase(player=tenant_a.player, item=item, key="buy-1")
    bonus_deliver(bonus_id=Bonus.objects.get().pk)
    assert store_purchase(player=tenant_a.player, item=item, key="buy-2").created is True
    assert [p.status for p in StorePurchase.objects.order_by("pk")] == ["refunded", "delivered"]


def test_a_player_moved_into_the_control_group_is_paid_back_all_the_same(tenant_a, unknown_item, sandbox):
    fund(tenant_a.player, 25)
    store_purchase(player=tenant_a.player, item=unknown_item, key="buy-1")
    tenant_a.player.ach_gamification_in_control_group = True
    tenant_a.player.save()
    assert bonus_deliver(bonus_id=Bonus.objects.get().pk) == "issue_failed"
    assert (StorePurchase.objects.get().status, wallet_get(player=tenant_a.player).points) == ("refunded", 25)


def test_the_api_shows_the_refund(tenant_a, unknown_item, sandbox, key_client):
    fund(tenant_a.player, 25)
    body = {"item_id": unknown_item.pk, "idempotency_key": "b1"}
    response = key_client.post(f"{BASE}/purchases", body, format="json")
    purchase = response.json()["purchase"]
    assert (response.status_code, purchase["status"], purchase["refund_entry_id"]) == (201, "delivered", None)
    bonus_deliver(bonus_id=Bonus.objects.get().pk)
    replay = key_client.post(f"{BASE}/purchases", body, format="json")  # the same key: the purchase as it is now
    refund = WalletEntry.objects.get(key__startswith="store-refund:")
    assert (replay.status_code, replay.json()["purchase"]["status"], replay.json()["purchase"]["refund_entry_id"]) == (
        200, "refunded", refund.pk,
    )  # fmt: skip
    assert replay.json()["wallet"]["points"] == 25
