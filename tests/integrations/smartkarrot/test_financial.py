"""The SmartKarrot-compatible financial endpoints, at the reference's paths with and without the trailing slash."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount, Order, OrderChange

pytestmark = pytest.mark.django_db

BASE = "/dashboards/v4/financial"
ORDER = {  # the reference's sample request
    "orderId": "8920b276-5d2f-457c-87c4-af7156d2fe95",
    "status": "Activated",
    "endDate": "2020-12-31",
    "customerAccountId": "d28f2cc6-4385-47b7-ab51-3fda6d0c1ab6",
    "appId": "c50f05b4-0fc7-43c7-88f6-46f0f0aef4a3",
    "amount": 8400,
    "effectiveDate": "2020-01-01",
    "orgProductId": "91ed7505-f106-4e03-b88b-63b76693f391",
}
APP = ORDER["appId"]
ACCOUNT_DATA = {
    "customerAccountId": ORDER["customerAccountId"],
    "appId": APP,
    "accountStartDate": "2020-12-31",
    "arrTarget": 1000000,
}


def _post(client, path: str, body, slash: bool = True):
    return client.post(f"{BASE}/{path}{'/' if slash else ''}", body, format="json")


@pytest.mark.parametrize("slash", [True, False])
def test_an_order_is_created_then_updated_by_its_id(sk_client, tenant_a, slash):
    response = _post(sk_client, "orders", ORDER, slash)
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    response = _post(sk_client, "orders", {**ORDER, "amount": 9000.5, "status": "Draft"}, slash)
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    order = Order.objects.get()
    assert (order.label_id, order.order_id, order.account.account_id) == (tenant_a.label.pk, ORDER["orderId"],
                                                                          ORDER["customerAccountId"])  # fmt: skip
    assert (order.status, order.amount, order.app_id, order.org_product_id) == (
        "Draft", Decimal("9000.50"), APP, ORDER["orgProductId"])  # fmt: skip
    assert (order.effective_date, order.end_date) == (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert CustomerAccount.objects.get().app_id == APP  # created bare by the order


def test_every_change_of_an_order_is_recorded_and_outlives_it(sk_client):
    _post(sk_client, "orders", ORDER)
    _post(sk_client, "orders", ORDER)  # a replay changes nothing and records nothing
    _post(sk_client, "orders", {**ORDER, "amount": 9000, "endDate": "2021-06-30"})
    sk_client.delete(f"{BASE}/orders/{ORDER['orderId']}", {"appId": APP}, format="json")
    history = [(c.kind, c.order_ref, c.changes, c.order_id) for c in OrderChange.objects.order_by("id")]
    assert [h[:2] for h in history] == [("created", ORDER["orderId"]), ("changed", ORDER["orderId"]),
                                        ("deleted", ORDER["orderId"])]  # fmt: skip
    assert history[0][2]["amount"] == [None, "8400.00"]
    assert history[1][2] == {"amount": ["8400.00", "9000.00"], "end_date": ["2020-12-31", "2021-06-30"]}
    assert history[2][2]["status"] == ["Activated", None]
    assert {h[3] for h in history} == {None}  # the order is gone; its history stays


def test_the_curl_example_with_product_id_is_accepted(sk_client):
    """The reference's curl names the product `productId` (its field table: `orgProductId`); both are accepted,
    `orgProductId` winning when a client sends the two."""
    body = {"appId": "3956ca1e", "productId": "c519d994", "orderId": "038883ee", "customerAccountId": "csm-id-CA",
            "status": "Activated", "amount": 21325.0, "effectiveDate": "2019-05-12", "endDate": "2020-05-12"}  # fmt: skip
    assert _post(sk_client, "orders", body).json() == {"status": "SUCCESS"}
    order = Order.objects.get()
    assert (order.amount, order.org_product_id) == (Decimal("21325.00"), "c519d994")
    assert _post(sk_client, "orders", {**body, "orgProductId": "p-2"}).json() == {"status": "SUCCESS"}
    assert Order.objects.get().org_product_id == "p-2"


def test_status_is_matched_in_any_case_and_amounts_round_to_the_cent(sk_client):
    _post(sk_client, "orders", {**ORDER, "status": "activated", "amount": "100.005"})
    order = Order.objects.get()
    assert (order.status, order.amount) == ("Activated", Decimal("100.01"))


@pytest.mark.parametrize("slash", [True, False])
def test_an_order_is_deleted_with_the_app_id_in_the_body_or_the_query(sk_client, slash):
    _post(sk_client, "orders", ORDER)
    _post(sk_client, "orders", {**ORDER, "orderId": "second"})
    tail = "/" if slash else ""
    response = sk_client.delete(f"{BASE}/orders/{ORDER['orderId']}{tail}", {"appId": APP}, format="json")
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    response = sk_client.delete(f"{BASE}/orders/second{tail}?appId={APP}")
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    assert Order.objects.count() == 0


def test_deleting_an_unknown_order_or_with_another_app_is_404(sk_client):
    _post(sk_client, "orders", ORDER)
    for order_id, app in ((ORDER["orderId"], "other-app"), ("nope", APP), ("x" * 300, APP)):
        response = sk_client.delete(f"{BASE}/orders/{order_id}", {"appId": app}, format="json")
        assert response.status_code == 404
        assert response.json()["status"] == "ERROR"
    assert Order.objects.count() == 1


def test_deleting_without_app_id_is_invalid_input(sk_client):
    _post(sk_client, "orders", ORDER)
    response = sk_client.delete(f"{BASE}/orders/{ORDER['orderId']}")
    assert response.status_code == 400
    assert response.json() == {
        "status": "INVALID_INPUT",
        "message": "Invalid value for: appId.",
        "errors": {"appId": ["This field is required."]},
    }
    assert Order.objects.count() == 1


@pytest.mark.parametrize("slash", [True, False])
def test_app_financial_data_is_set_updated_and_deleted(sk_client, tenant_a, slash):
    tail = "/" if slash else ""
    assert _post(sk_client, "app-financial-data", {"appId": APP, "logoChurnTolerance": 0.05}, slash).json() == {
        "status": "SUCCESS"
    }
    _post(sk_client, "app-financial-data", {"appId": APP, "logoChurnTolerance": "0.075"}, slash)
    config = AppFinancialConfig.objects.get()
    assert (config.label_id, config.app_id, config.logo_churn_tolerance) == (tenant_a.label.pk, APP, Decimal("0.075"))
    response = sk_client.delete(f"{BASE}/app-financial-data/{APP}{tail}")
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    assert not AppFinancialConfig.objects.exists()
    assert sk_client.delete(f"{BASE}/app-financial-data/{APP}{tail}").status_code == 404


@pytest.mark.parametrize("slash", [True, False])
def test_account_financial_data_is_set_updated_and_deleted(sk_client, slash):
    tail = "/" if slash else ""
    assert _post(sk_client, "account-financial-data", ACCOUNT_DATA, slash).json() == {"status": "SUCCESS"}
    _post(sk_client, "account-financial-data", {**ACCOUNT_DATA, "arrTarget": 1200000.0}, slash)
    config = AccountFinancialConfig.objects.select_related("account").get()
    assert (config.account.account_id, config.account_start_date, config.arr_target) == (
        ACCOUNT_DATA["customerAccountId"], dt.date(2020, 12, 31), Decimal("1200000.00"))  # fmt: skip
    url = f"{BASE}/account-financial-data/{ACCOUNT_DATA['customerAccountId']}{tail}"
    assert sk_client.delete(url, {"appId": "another"}, format="json").status_code == 404
    response = sk_client.delete(url, {"appId": APP}, format="json")
    assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    assert not AccountFinancialConfig.objects.exists()
    assert CustomerAccount.objects.count() == 1  # the account itself stays


def test_refusals_name_the_field_and_change_nothing(sk_client):
    cases = [
        ({**ORDER, "status": "Paused"}, "status"),
        ({**ORDER, "amount": -1}, "amount"),
        ({**ORDER, "amount": True}, "amount"),
        ({**ORDER, "amount": "NaN"}, "amount"),
        ({**ORDER, "amount": 1e20}, "amount"),
        ({**ORDER, "effectiveDate": "12/05/2020"}, "effectiveDate"),
        ({**ORDER, "endDate": "2019-12-31"}, "endDate"),
        ({k: v for k, v in ORDER.items() if k != "orgProductId"}, "orgProductId"),
        ({**ORDER, "orderId": ""}, "orderId"),
    ]
    for body, field in cases:
        response = _post(sk_client, "orders", body)
        assert response.status_code == 400, body
        assert response.json()["status"] == "INVALID_INPUT"
        assert list(response.json()["errors"]) == [field], body
    for value in (-0.1, 1.5, "5%", None):
        response = _post(sk_client, "app-financial-data", {"appId": APP, "logoChurnTolerance": value})
        assert (response.status_code, list(response.json()["errors"])) == (400, ["logoChurnTolerance"])
    response = _post(sk_client, "account-financial-data", {**ACCOUNT_DATA, "arrTarget": -5})
    assert (response.status_code, list(response.json()["errors"])) == (400, ["arrTarget"])
    assert not Order.objects.exists()
    assert not AppFinancialConfig.objects.exists()
    assert not AccountFinancialConfig.objects.exists()
    assert not CustomerAccount.objects.exists()


GARBAGE = [
    (b"not json", "application/json"),
    (b"{", "application/json"),
    (b"[]", "application/json"),
    (b'[{"orderId": "a"}]', "application/json"),
    (b"null", "application/json"),
    (b'"a string"', "application/json"),
    (b"12", "application/json"),
    (b"{}", "application/json"),
    (b'{"orderId": {"nested": 1}, "amount": [1], "status": 3, "effectiveDate": 20200101}', "application/json"),
    (('{"orderId": "' + "x" * 100_000 + '"}').encode(), "application/json"),
    (b'{"orderId": "a\\u0000b", "appId": "\\u0000"}', "application/json"),
    (b'{"amount": 1e400, "effectiveDate": "2020-02-30"}', "application/json"),
    (b"\xff\xfe\x00garbage", "application/json"),
]
ENDPOINTS = ["orders", "app-financial-data", "account-financial-data"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_garbage_is_answered_in_the_envelope_never_a_500(sk_client, path):
    for body, content_type in GARBAGE:
        response = sk_client.generic("POST", f"{BASE}/{path}", body, content_type=content_type)
        assert response.status_code == 400, (body[:40], response.content[:200])
        assert response.json()["status"] == "INVALID_INPUT", body[:40]
    response = sk_client.generic(
        "POST", f"{BASE}/{path}", b"orderId=a", content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.json()["status"]) == (415, "ERROR")
    response = sk_client.get(f"{BASE}/{path}")
    assert (response.status_code, response.json()["status"]) == (405, "ERROR")
    assert not Order.objects.exists()
    assert not AppFinancialConfig.objects.exists()


@pytest.mark.parametrize("path", ["orders/o-1", "account-financial-data/acc-1"])
def test_garbage_delete_bodies_are_invalid_input(sk_client, path):
    for body, content_type in [(b"not json", "application/json"), (b"[]", "application/json"),
                               (b'{"appId": {"a": 1}}', "application/json"), (b'{"appId": ""}', "application/json"), (b'{"appId": null}', "application/json")]:  # fmt: skip
        response = sk_client.generic("DELETE", f"{BASE}/{path}", body, content_type=content_type)
        assert (response.status_code, response.json()["status"]) == (400, "INVALID_INPUT"), body


def test_authentication_is_required_in_the_envelope(client, sk_client_b):
    response = client.post(f"{BASE}/orders", ORDER, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_labels_are_isolated(sk_client, sk_client_b, tenant_a, tenant_b):
    """Label B's key writes its own order under the same id; it cannot delete or change label A's."""
    _post(sk_client, "orders", ORDER)
    _post(sk_client, "app-financial-data", {"appId": APP, "logoChurnTolerance": 0.05})
    _post(sk_client, "account-financial-data", ACCOUNT_DATA)
    assert sk_client_b.delete(f"{BASE}/orders/{ORDER['orderId']}", {"appId": APP}, format="json").status_code == 404
    assert sk_client_b.delete(f"{BASE}/app-financial-data/{APP}").status_code == 404
    url = f"{BASE}/account-financial-data/{ACCOUNT_DATA['customerAccountId']}"
    assert sk_client_b.delete(url, {"appId": APP}, format="json").status_code == 404
    _post(sk_client_b, "orders", {**ORDER, "amount": 1})
    a, b = (Order.objects.get(label=t.label) for t in (tenant_a, tenant_b))
    assert (a.amount, b.amount) == (Decimal("8400.00"), Decimal("1.00"))
    assert a.account_id != b.account_id
    assert b.account.label_id == tenant_b.label.pk
    assert AppFinancialConfig.objects.get().label_id == tenant_a.label.pk
    assert AccountFinancialConfig.objects.get().label_id == tenant_a.label.pk
