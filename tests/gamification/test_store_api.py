"""The store API: the player's view of the store, purchases with idempotency keys and refusal codes, isolation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from gamification.models import StorePurchase
from gamification.selectors import wallet_get
from tests.factories import PlayerFactory
from tests.gamification.store_helpers import fund, item_make

pytestmark = pytest.mark.django_db

BASE = "/api/v1/players/shared-brand/shared-player/store"


def _buy(client, item, key="buy-1", base=BASE, **headers):
    body = {"item_id": item.pk} | ({"idempotency_key": key} if key else {})
    return client.post(f"{base}/purchases", body, format="json", **headers)


def test_the_store_lists_items_on_sale_with_stock_cap_and_affordability(tenant_a, key_client):
    fund(tenant_a.player, 10)
    item_make(tenant_a.label, name="Mug", price=10, stock=4, cap_count=1, cap_period="day")
    item_make(tenant_a.label, name="Hidden", is_active=False)
    response = key_client.get(BASE)
    assert response.status_code == 200
    [mug] = response.json()
    assert (mug["name"], mug["price"], mug["currency"], mug["type"]) == ("Mug", 10, "points", "tangible")
    assert (mug["stock_left"], mug["cap_remaining"], mug["affordable"]) == (4, 1, True)


def test_the_store_list_costs_a_fixed_number_of_queries(tenant_a, key_client, django_assert_num_queries):
    fund(tenant_a.player, 100)
    for n in range(5):
        item_make(tenant_a.label, name=f"Item {n}", cap_count=1, cap_period="week")
    key_client.get(BASE)  # the first use of a key also records last_used_at
    # key lookup, brand, player, items (category, level and the period's purchases joined), wallet: for 5 or 500
    with django_assert_num_queries(5):
        assert len(key_client.get(BASE).json()) == 5


def test_a_purchase_answers_201_and_a_retry_200_with_the_first_purchase(tenant_a, key_client):
    fund(tenant_a.player, 25)
    item = item_make(tenant_a.label, price=10, stock=2)
    response = _buy(key_client, item)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert (body["purchase"]["item_id"], body["purchase"]["price"], body["purchase"]["status"]) == (
        item.pk,
        10,
        "delivered",
    )
    assert body["wallet"]["points"] == 15
    retry = _buy(key_client, item)
    assert retry.status_code == 200
    assert retry.json()["created"] is False
    assert retry.json()["purchase"]["id"] == body["purchase"]["id"]
    assert wallet_get(player=tenant_a.player).points == 15


def test_the_idempotency_key_may_come_in_a_header_and_is_required(tenant_a, key_client):
    fund(tenant_a.player, 25)
    item = item_make(tenant_a.label)
    first = _buy(key_client, item, key=None, HTTP_IDEMPOTENCY_KEY="h-1")
    again = _buy(key_client, item, key=None, HTTP_IDEMPOTENCY_KEY="h-1")
    assert (first.status_code, again.status_code) == (201, 200)
    missing = _buy(key_client, item, key=None)
    assert missing.status_code == 400
    assert list(missing.json()["errors"]) == ["idempotency_key"]
    assert wallet_get(player=tenant_a.player).points == 15


@pytest.mark.parametrize(
    ("fields", "balance", "code"),
    [
        ({"price": 11}, 10, "insufficient_balance"),
        ({"stock": 0}, 10, "out_of_stock"),
        ({"is_active": False}, 10, "inactive"),
    ],
)
def test_each_refusal_answers_422_with_its_code_and_changes_nothing(tenant_a, key_client, fields, balance, code):
    fund(tenant_a.player, balance)
    item = item_make(tenant_a.label, **({"price": 10} | fields))
    response = _buy(key_client, item)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert wallet_get(player=tenant_a.player).points == balance
    assert not StorePurchase.objects.exists()


def test_a_second_purchase_past_a_cap_of_one_a_day_answers_limit_reached(tenant_a, key_client):
    fund(tenant_a.player, 100)
    item = item_make(tenant_a.label, cap_count=1, cap_period="day")
    assert _buy(key_client, item, key="b1").status_code == 201
    response = _buy(key_client, item, key="b2")
    assert (response.status_code, response.json()["code"]) == (422, "limit_reached")
    assert key_client.get(BASE).json()[0]["cap_remaining"] == 0


def test_another_labels_key_sees_and_buys_nothing_of_label_a(tenant_a, tenant_b):
    fund(tenant_a.player, 100)
    fund(tenant_b.player, 100)
    item_a = item_make(tenant_a.label, name="A only")
    only_a = PlayerFactory(brand=tenant_a.brand, user_ext_id="only-in-a")
    client_b = APIClient()
    client_b.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")
    # The shared ids resolve to B's own player, whose store has none of A's items.
    assert client_b.get(BASE).json() == []
    response = _buy(client_b, item_a)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    # A player who exists only in label A is not found for B's key.
    other = "/api/v1/players/shared-brand/only-in-a/store"
    assert client_b.get(other).status_code == 404
    assert _buy(client_b, item_a, base=other).status_code == 404
    assert not StorePurchase.objects.exists()
    assert (
        wallet_get(player=tenant_a.player).points,
        wallet_get(player=tenant_b.player).points,
        wallet_get(player=only_a).points,
    ) == (
        100,
        100,
        0,
    )


def test_an_unauthenticated_client_is_refused(tenant_a):
    item = item_make(tenant_a.label)
    assert APIClient().get(BASE).status_code == 401
    assert _buy(APIClient(), item).status_code == 401
