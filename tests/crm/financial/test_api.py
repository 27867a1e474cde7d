"""Pitboss's own API of financial data: orders (list, read) and the dashboards' figures, label-scoped."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from crm.models import Order
from tests.crm.financial.helpers import book, order

pytestmark = pytest.mark.django_db


@pytest.fixture
def books(tenant_a, tenant_b):
    book(tenant_a.label)
    order(tenant_b.label, "acme-1", "acme", 5, "2024-01-01", "2024-12-31")  # the same ids in label B


def _staff(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_orders_are_listed_with_term_and_mrr_and_filtered(key_client, books, django_assert_num_queries):
    key_client.get("/api/v1/orders")  # the key's first use is recorded once
    with django_assert_num_queries(2):  # the key, then the page (account and label joined)
        body = key_client.get("/api/v1/orders").json()
    assert len(body["results"]) == 10
    acme = next(o for o in body["results"] if o["order_id"] == "acme-2")
    assert {k: acme[k] for k in ("account_id", "app_id", "status", "amount", "term_months", "mrr")} == {
        "account_id": "acme", "app_id": "app-1", "status": "Activated", "amount": "600.00", "term_months": 6,
        "mrr": "100.00"}  # fmt: skip
    ids = lambda query: sorted(o["order_id"] for o in key_client.get(f"/api/v1/orders?{query}").json()["results"])  # noqa: E731
    assert ids("status=Draft") == ["draft-1"]
    assert ids("app_id=app-2") == ["eve-1"]
    assert ids("account_id=corp") == ["corp-1", "corp-2"]
    assert ids("active_on=2024-04-20") == ["acme-1", "acme-2", "bolt-2", "draft-1", "eve-1"]
    assert ids("q=fern") == ["fern-1"]
    assert ids("effective_after=2024-06-01") == ["corp-2", "late-1"]
    response = key_client.get("/api/v1/orders?status=Paused")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["status"])


def test_an_order_is_read_in_its_label_only(key_client, books, tenant_b):
    mine = Order.objects.get(label__name="Label A", order_id="acme-1")
    theirs = Order.objects.get(label=tenant_b.label, order_id="acme-1")
    assert key_client.get(f"/api/v1/orders/{mine.pk}").json()["amount"] == "1200.00"
    response = key_client.get(f"/api/v1/orders/{theirs.pk}")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_dashboard_figures_of_an_app(key_client, books):
    body = key_client.get("/api/v1/financial/dashboard?app_id=app-1&as_of=2024-06-15&months=3").json()
    assert {k: body[k] for k in ("mrr", "arr", "arr_target", "attainment", "logo_churn_tolerance", "currency")} == {
        "mrr": "700.00", "arr": "8400.00", "arr_target": "5000.00", "attainment": "1.6800",
        "logo_churn_tolerance": "0.0500", "currency": "EUR"}  # fmt: skip
    assert [
        (m["month"], m["mrr"], m["churned"], m["logo_churn_rate"], m["over_tolerance"]) for m in body["months"]
    ] == [
        ("2024-04-01", "400.00", "200.00", "0.3333", True),
        ("2024-05-01", "600.00", "0.00", "0.0000", False),
        ("2024-06-01", "700.00", "0.00", "0.0000", False),
    ]


def test_dashboard_figures_of_an_account_and_refusals(key_client, books, tenant_b):
    body = key_client.get("/api/v1/financial/dashboard?account_id=acme&as_of=2024-06-15&months=1").json()
    assert (body["arr"], body["arr_target"], body["attainment"], body["account_start_date"]) == (
        "2400.00", "3000.00", "0.8000", "2023-11-01")  # fmt: skip
    assert key_client.get("/api/v1/financial/dashboard?account_id=nobody").status_code == 404
    for query, field in (("months=0", "months"), ("months=x", "months"), ("as_of=2024-13-01", "as_of"), ("as_of=0001-01-01", "as_of"),
                         ("app_id=" + "a" * 200, "app_id")):  # fmt: skip
        response = key_client.get(f"/api/v1/financial/dashboard?{query}")
        assert (response.status_code, list(response.json()["errors"])) == (400, [field])


def test_staff_of_each_label_and_an_outsider(books, tenant_a, tenant_b, staff_with_role, outsider):
    support_a = _staff(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert [o["amount"] for o in support_a.get("/api/v1/orders?q=acme-1").json()["results"]] == ["1200.00"]
    staff_b = _staff(tenant_b.admin)
    assert [o["amount"] for o in staff_b.get("/api/v1/orders").json()["results"]] == ["5.00"]
    body = staff_b.get("/api/v1/financial/dashboard?as_of=2024-06-15&months=1").json()
    assert body["mrr"] == "0.42"  # 5 over 12 months
    assert _staff(outsider).get("/api/v1/orders").status_code == 403
    assert APIClient().get("/api/v1/financial/dashboard").status_code == 401
