"""Pitboss's own read API of usage analytics: customer accounts and usage users, label-scoped, tokens masked."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from crm.models import UsageUser
from tests.crm.usage_helpers import usage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def worlds(tenant_a, tenant_b):
    a = usage_world(tenant_a)
    b = usage_world(tenant_b, name="Other label's Northwind")  # the same ids in label B
    return a, b


def staff_api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_accounts_list_and_detail_with_usage(key_client, worlds):
    response = key_client.get("/api/v1/customer-accounts")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert (row["account_id"], row["name"], row["users_count"], row["status"]) == ("acc-1", "Northwind", 1, "Active")
    detail = key_client.get("/api/v1/customer-accounts/acc-1").json()
    assert detail["usage"]["users"] == 1
    assert detail["usage"]["sessions"] == 0  # the session is older than 30 days
    assert key_client.get("/api/v1/customer-accounts/nope").status_code == 404


def test_usage_users_with_player_devices_and_masked_tokens(key_client, worlds, tenant_a):
    users = key_client.get("/api/v1/usage-users", {"kind": "AUTH"}).json()["results"]
    (user,) = users
    assert user["player"] == {"ext_brand_id": "shared-brand", "user_ext_id": "u-1"}
    assert user["customer_account_id"] == "acc-1"
    assert user["attributes"]["Region"]["value"] == "US"
    assert user["devices"][0]["token_masked"] == "••••1234"
    assert "abcd" not in str(user)
    guests = key_client.get("/api/v1/usage-users", {"kind": "GUEST"}).json()["results"]
    assert [g["user_id"] for g in guests] == ["u-1-guest"]
    detail = key_client.get(f"/api/v1/usage-users/{user['id']}")
    assert detail.json()["user_id"] == "u-1"


def test_another_labels_ids_are_404(key_client, worlds, tenant_b):
    b_user = UsageUser.objects.get(label=tenant_b.label, user_id="u-1")
    assert key_client.get(f"/api/v1/usage-users/{b_user.pk}").status_code == 404
    names = [a["name"] for a in key_client.get("/api/v1/customer-accounts").json()["results"]]
    assert names == ["Northwind"]


def test_three_personas(worlds, tenant_a, tenant_b, staff_with_role, outsider):
    a_user = UsageUser.objects.get(label=tenant_a.label, user_id="u-1")
    support_a = staff_api(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support_a.get(f"/api/v1/usage-users/{a_user.pk}").status_code == 200
    assert support_a.get("/api/v1/customer-accounts/acc-1").json()["name"] == "Northwind"
    staff_b = staff_api(tenant_b.admin)
    assert staff_b.get(f"/api/v1/usage-users/{a_user.pk}").status_code == 404
    assert staff_b.get("/api/v1/customer-accounts/acc-1").json()["name"] == "Other label's Northwind"
    stranger = staff_api(outsider)
    assert stranger.get("/api/v1/customer-accounts").status_code == 403
    assert APIClient().get("/api/v1/usage-users").status_code == 401


def _queries(client, path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_list_queries_do_not_grow_with_rows(key_client, worlds, tenant_a):
    key_client.get("/api/v1/usage-users")  # the key's first use of the minute stamps it: one more query
    users, accounts = _queries(key_client, "/api/v1/usage-users"), _queries(key_client, "/api/v1/customer-accounts")
    for n in range(5):
        usage_world(tenant_a, account_id=f"acc-x{n}", user_id=f"u-x{n}")
    assert _queries(key_client, "/api/v1/usage-users") == users
    assert _queries(key_client, "/api/v1/customer-accounts") == accounts
    assert len(key_client.get("/api/v1/usage-users").json()["results"]) == 12


def test_filters(key_client, worlds):
    assert key_client.get("/api/v1/customer-accounts", {"q": "North"}).json()["results"][0]["account_id"] == "acc-1"
    assert key_client.get("/api/v1/customer-accounts", {"status": "Inactive"}).json()["results"] == []
    assert key_client.get("/api/v1/customer-accounts", {"status": "Paused"}).status_code == 400
    found = key_client.get("/api/v1/usage-users", {"customer_account_id": "acc-1"}).json()["results"]
    assert [u["user_id"] for u in found] == ["u-1"]
