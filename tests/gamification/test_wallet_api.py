"""The wallet API: balances, the ledger, idempotent adjustments, and isolation between labels."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from gamification.models import WalletEntry
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db

BASE = "/api/v1/players/shared-brand/shared-player/wallet"


def _adjust(client, body=None, **headers):
    body = {"currency": "points", "amount": 50, "reason": "goodwill", "idempotency_key": "adj-1"} | (body or {})
    return client.post(f"{BASE}/adjustments", body, format="json", **headers)


def test_an_adjustment_answers_201_with_the_entry_and_balances_and_a_retry_200(tenant_a, key_client):
    response = _adjust(key_client)
    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    assert body["wallet"] == {
        "points": 50,
        "points_earned": 50,
        "points_tournament": 50,
        "gems": 0,
        "diamonds": 0,
        "level": None,
    }
    assert body["entry"]["amount"] == 50
    assert body["entry"]["source"] == "api"
    assert body["entry"]["reason"] == "goodwill"
    retry = _adjust(key_client)
    assert retry.status_code == 200
    assert retry.json()["created"] is False
    assert retry.json()["entry"]["id"] == body["entry"]["id"]
    assert wallet_get(player=tenant_a.player).points == 50


def test_the_idempotency_key_may_come_in_a_header(tenant_a, key_client):
    first = key_client.post(
        f"{BASE}/adjustments", {"currency": "gems", "amount": 3}, format="json", HTTP_IDEMPOTENCY_KEY="h-1"
    )
    again = key_client.post(
        f"{BASE}/adjustments", {"currency": "gems", "amount": 3}, format="json", HTTP_IDEMPOTENCY_KEY="h-1"
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert wallet_get(player=tenant_a.player).gems == 3


def test_a_key_reused_for_another_adjustment_answers_409(tenant_a, key_client):
    _adjust(key_client)
    response = _adjust(key_client, {"amount": 60})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_conflict"
    assert wallet_get(player=tenant_a.player).points == 50


def test_an_overdraft_answers_422_and_writes_nothing(tenant_a, key_client):
    _adjust(key_client)
    response = _adjust(key_client, {"amount": -51, "idempotency_key": "adj-2"})
    assert response.status_code == 422
    assert response.json()["code"] == "insufficient_balance"
    assert wallet_get(player=tenant_a.player).points == 50
    assert WalletEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "coins"}, "currency"),
        ({"amount": 0}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"idempotency_key": "k" * 201}, "idempotency_key"),
        ({"reason": "r" * 501}, "reason"),
    ],
)
def test_bad_input_answers_400_naming_the_field(tenant_a, key_client, body, field):
    response = _adjust(key_client, body)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]
    assert not WalletEntry.objects.exists()


def test_a_missing_idempotency_key_answers_400(tenant_a, key_client):
    response = key_client.post(f"{BASE}/adjustments", {"currency": "points", "amount": 1}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["idempotency_key"]


def test_balances_and_ledger_read_back(tenant_a, key_client):
    assert key_client.get(BASE).json() == {
        "points": 0,
        "points_earned": 0,
        "points_tournament": 0,
        "gems": 0,
        "diamonds": 0,
        "level": None,
    }
    _adjust(key_client)
    _adjust(key_client, {"amount": -20, "idempotency_key": "adj-2"})
    assert key_client.get(BASE).json()["points"] == 30
    entries = key_client.get(f"{BASE}/entries").json()["results"]
    assert [e["amount"] for e in entries] == [-20, 50]
    assert [e["key"] for e in entries] == ["api:adj-2", "api:adj-1"]


def test_the_ledger_pages_with_a_cursor(tenant_a, key_client):
    for n in range(3):
        wallet_adjust(player=tenant_a.player, currency="gems", amount=n + 1, source="rule", key=f"r{n}")
    page = key_client.get(f"{BASE}/entries?limit=2").json()
    assert [e["amount"] for e in page["results"]] == [3, 2]
    rest = key_client.get(page["next"]).json()
    assert [e["amount"] for e in rest["results"]] == [1]


def test_the_ledger_list_costs_a_fixed_number_of_queries(tenant_a, key_client, django_assert_num_queries):
    for n in range(5):
        wallet_adjust(player=tenant_a.player, currency="gems", amount=1, source="rule", key=f"r{n}")
    key_client.get(BASE)  # the first use of a key also records last_used_at
    # key lookup, brand, player, one page of entries (created_by joined): the same for 5 entries or 500
    with django_assert_num_queries(4):
        assert len(key_client.get(f"{BASE}/entries").json()["results"]) == 5


# --- isolation: keys of A and B, staff of A and B, an outsider ----------------------------------------------------


def test_each_label_sees_and_adjusts_only_its_own_player(tenant_a, tenant_b):
    wallet_adjust(player=tenant_b.player, currency="points", amount=7, source="rule", key="b")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    assert client.get(BASE).json()["points"] == 0  # the same external ids, but label A's player
    assert _adjust(client).status_code == 201
    assert wallet_get(player=tenant_b.player).points == 7
    assert wallet_get(player=tenant_a.player).points == 50


def test_another_labels_player_answers_404(tenant_a, tenant_b, key_client):
    from tests.factories import PlayerFactory

    PlayerFactory(brand=tenant_b.brand, label=tenant_b.label, user_ext_id="only-in-b")
    url = "/api/v1/players/shared-brand/only-in-b/wallet"
    assert key_client.get(url).status_code == 404
    assert key_client.get(f"{url}/entries").status_code == 404
    body = {"currency": "points", "amount": 5, "idempotency_key": "x"}
    assert key_client.post(f"{url}/adjustments", body, format="json").status_code == 404
    assert not WalletEntry.objects.exists()


def test_staff_adjust_in_their_label_and_outsiders_nothing(tenant_a, tenant_b, outsider, staff_with_role):
    client = APIClient()
    client.force_login(staff_with_role(tenant_a.label, Role.SUPPORT))
    response = _adjust(client)
    assert response.status_code == 201
    assert response.json()["entry"]["created_by"] is not None
    assert wallet_get(player=tenant_a.player).points == 50

    client.force_login(tenant_b.admin)
    assert _adjust(client, {"idempotency_key": "b-1"}).status_code == 201
    assert wallet_get(player=tenant_b.player).points == 50
    assert wallet_get(player=tenant_a.player).points == 50

    client.force_login(outsider)
    assert client.get(BASE).status_code == 403
    assert _adjust(client, {"idempotency_key": "o-1"}).status_code == 403
    assert WalletEntry.objects.count() == 2


def test_an_unauthenticated_call_answers_401(tenant_a):
    assert APIClient().get(BASE).status_code == 401
    assert _adjust(APIClient()).status_code == 401
    assert not WalletEntry.objects.exists()
