"""The contract every idempotent POST shares (backoffice.api.idempotency): the same answers on each endpoint built on
the base class, whatever it changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from gamification.models import Badge, BadgeAward, StoreItem, StorePurchase, WalletEntry
from gamification.services.wallet import wallet_adjust
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Endpoint:
    path: str  # under /api/v1/players/shared-brand/<user_ext_id>/
    body: dict[str, Any]
    rows: Any  # the model whose rows a call adds


def _wallet(tenant) -> Endpoint:
    return Endpoint("wallet/adjustments", {"currency": "points", "amount": 5}, WalletEntry)


def _store(tenant) -> Endpoint:
    item = StoreItem.objects.create(label=tenant.label, name="Cap", type="tangible", price=10, currency="gems")
    wallet_adjust(player=tenant.player, currency="gems", amount=100, source="api", key="fund")
    return Endpoint("store/purchases", {"item_id": item.pk}, StorePurchase)


def _badge(tenant) -> Endpoint:
    badge = Badge.objects.create(label=tenant.label, name="Spinner")
    return Endpoint(f"badges/{badge.pk}/awards", {"reason": "welcome"}, BadgeAward)


ENDPOINTS = [pytest.param(_wallet, id="wallet"), pytest.param(_store, id="store"), pytest.param(_badge, id="badge")]


def _url(endpoint: Endpoint, user_ext_id: str = "shared-player") -> str:
    return f"/api/v1/players/shared-brand/{user_ext_id}/{endpoint.path}"


def _client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
    return client


@pytest.mark.parametrize("make", ENDPOINTS)
def test_201_once_then_200_with_the_same_result_for_the_same_key(make, tenant_a):
    endpoint, client = make(tenant_a), _client(tenant_a)
    before = endpoint.rows.objects.count()
    first = client.post(_url(endpoint), endpoint.body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(_url(endpoint), {**endpoint.body, "idempotency_key": "k-1"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert {**first.json(), "created": None} == {**again.json(), "created": None}
    assert endpoint.rows.objects.count() == before + 1


@pytest.mark.parametrize("make", ENDPOINTS)
@pytest.mark.parametrize("key", [None, "", "   ", "k" * 201])
def test_without_a_usable_key_400_names_idempotency_key_and_nothing_changes(make, key, tenant_a):
    endpoint, client = make(tenant_a), _client(tenant_a)
    before = endpoint.rows.objects.count()
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = client.post(_url(endpoint), endpoint.body, format="json", **headers)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["idempotency_key"]
    assert endpoint.rows.objects.count() == before


@pytest.mark.parametrize("make", ENDPOINTS)
def test_another_labels_player_is_404_before_the_body_is_read(make, tenant_a, tenant_b):
    endpoint = make(tenant_a)
    PlayerFactory(brand=tenant_a.brand, label=tenant_a.label, user_ext_id="only-in-a")
    before = endpoint.rows.objects.count()
    response = _client(tenant_b).post(_url(endpoint, "only-in-a"), {"bad": "body"}, format="json")
    assert response.status_code == 404
    assert endpoint.rows.objects.count() == before


@pytest.mark.parametrize("make", ENDPOINTS)
def test_an_outsider_session_is_refused_and_nothing_changes(make, tenant_a, outsider):
    endpoint = make(tenant_a)
    before = endpoint.rows.objects.count()
    client = APIClient()
    client.force_login(outsider)
    response = client.post(_url(endpoint), endpoint.body, format="json", HTTP_IDEMPOTENCY_KEY="o-1")
    assert response.status_code == 403
    assert endpoint.rows.objects.count() == before
