"""Concurrent upserts against real PostgreSQL, each thread on its own connection: nothing lost, nothing doubled."""

from __future__ import annotations

import itertools
import threading
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from crm.models import AccountFinancialConfig, CustomerAccount, Order, OrderChange
from tests.integrations.smartkarrot.conftest import basic
from tests.integrations.smartkarrot.test_financial import ACCOUNT_DATA, BASE, ORDER

pytestmark = pytest.mark.django_db(transaction=True)
THREADS = 8


def _race(raw_key: str, path: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST each body from its own thread, all released at once."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict]] = [None] * len(bodies)  # type: ignore[list-item]

    def call(index: int) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=basic(raw_key))
        try:
            barrier.wait()
            response = client.post(f"{BASE}/{path}", bodies[index], format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_upserts_of_one_order_keep_one_row_with_one_of_the_amounts(tenant_a):
    amounts = [Decimal(1000 + i) for i in range(THREADS)]
    results = _race(tenant_a.raw_key, "orders", [{**ORDER, "amount": str(a)} for a in amounts])
    assert results == [(200, {"status": "SUCCESS"})] * THREADS
    order = Order.objects.get()
    assert order.amount in amounts
    assert CustomerAccount.objects.filter(account_id=ORDER["customerAccountId"]).count() == 1


def test_concurrent_upserts_record_a_history_whose_changes_chain(tenant_a):
    amounts = [Decimal(2000 + i) for i in range(THREADS)]
    _race(tenant_a.raw_key, "orders", [{**ORDER, "amount": str(a)} for a in amounts])
    history = list(OrderChange.objects.order_by("id"))
    assert [c.kind for c in history] == ["created"] + ["changed"] * (THREADS - 1)
    assert history[0].changes["amount"][0] is None
    for before, after in itertools.pairwise(history):  # each change starts from the state before it
        assert after.changes["amount"][0] == before.changes["amount"][1]
    assert Decimal(history[-1].changes["amount"][1]) == Order.objects.get().amount
    assert sorted(Decimal(c.changes["amount"][1]) for c in history) == amounts


def test_concurrent_orders_of_a_new_account_are_all_kept_under_one_account(tenant_a):
    bodies = [{**ORDER, "orderId": f"order-{i}", "amount": 100 + i} for i in range(THREADS)]
    results = _race(tenant_a.raw_key, "orders", bodies)
    assert results == [(200, {"status": "SUCCESS"})] * THREADS
    assert sorted(Order.objects.values_list("order_id", "amount")) == sorted(
        (f"order-{i}", Decimal(100 + i)) for i in range(THREADS)
    )
    assert CustomerAccount.objects.count() == 1
    assert Order.objects.values("account_id").distinct().count() == 1


def test_concurrent_account_configurations_keep_one_row(tenant_a):
    targets = [Decimal(10_000 * (i + 1)) for i in range(THREADS)]
    results = _race(
        tenant_a.raw_key, "account-financial-data", [{**ACCOUNT_DATA, "arrTarget": str(t)} for t in targets]
    )
    assert results == [(200, {"status": "SUCCESS"})] * THREADS
    assert AccountFinancialConfig.objects.get().arr_target in targets
