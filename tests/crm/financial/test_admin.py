"""Financial pages of the admin: the three personas, label scoping (another label's id is 404), the dashboard's
figures on the page, configuration editing with CONFIG_CHANGE only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from backoffice.models import Role
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount, Order
from tests.crm.financial.helpers import book, order

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/crm/appfinancialconfig/dashboard/"


@pytest.fixture
def books(tenant_a, tenant_b):
    book(tenant_a.label)
    order(tenant_b.label, "acme-1", "acme", 5, "2024-01-01", "2024-12-31")


def _ids(tenant):
    account = CustomerAccount.objects.get(label=tenant.label, account_id="acme")
    return {
        "customerfinancials": account.pk,
        "order": Order.objects.get(label=tenant.label, order_id="acme-1").pk,
    }


def test_every_page_opens_for_each_role_of_the_label(books, tenant_a, staff_with_role, staff_client):
    ids = _ids(tenant_a)
    app = AppFinancialConfig.objects.get(label=tenant_a.label).pk
    target = AccountFinancialConfig.objects.filter(label=tenant_a.label).first().pk
    pages = [
        DASHBOARD, f"{DASHBOARD}?app=app-1&as_of=2024-06-15&months=6", "/admin/crm/customerfinancials/",
        f"/admin/crm/customerfinancials/{ids['customerfinancials']}/change/", "/admin/crm/order/",
        f"/admin/crm/order/{ids['order']}/change/", "/admin/crm/order/?active_on=2024-04-20&status=Activated",
        "/admin/crm/appfinancialconfig/", f"/admin/crm/appfinancialconfig/{app}/change/",
        "/admin/crm/accountfinancialconfig/", f"/admin/crm/accountfinancialconfig/{target}/change/",
    ]  # fmt: skip
    for role in (Role.ADMIN, Role.MANAGER, Role.SUPPORT):
        client = staff_client(staff_with_role(tenant_a.label, role, f"{role}_fin"))
        for url in pages:
            assert client.get(url).status_code == 200, (role, url)


def test_the_dashboard_shows_the_hand_computed_figures(books, tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get(f"{DASHBOARD}?app=app-1&as_of=2024-06-15&months=6").content.decode()
    assert 'data-kpi="mrr"' in page
    assert "700.00 EUR" in page  # MRR
    assert "8,400.00 EUR" in page  # ARR
    assert "5,000.00 EUR" in page  # the sum of acme's and bolt's targets
    assert "168.0 % reached" in page
    assert page.count("data-over-tolerance") == 1  # April: 1 of 3 logos lost, over 5 %
    assert 'data-type="bar"' in page
    assert 'data-type="line"' in page


def test_an_accounts_page_shows_its_figures_and_orders(books, tenant_a, staff_client):
    acme = CustomerAccount.objects.get(label=tenant_a.label, account_id="acme")
    url = f"/admin/crm/customerfinancials/{acme.pk}/change/?as_of=2024-06-15&months=6"
    page = staff_client(tenant_a.admin).get(url).content.decode()
    assert "2,400.00 EUR" in page
    assert "80.0 % reached" in page
    assert "acme-1" in page
    assert "acme-2" in page
    assert "late-1" in page
    assert "corp-1" not in page


def test_another_labels_objects_are_404_and_outsiders_403(books, tenant_a, tenant_b, staff_client, outsider):
    ids = _ids(tenant_a)
    client_b = staff_client(tenant_b.admin)
    for model, pk in ids.items():
        assert client_b.get(f"/admin/crm/{model}/{pk}/change/").status_code == 404, model
    for model, config in (
        ("appfinancialconfig", AppFinancialConfig),
        ("accountfinancialconfig", AccountFinancialConfig),
    ):
        pk = config.objects.filter(label=tenant_a.label).first().pk
        assert client_b.get(f"/admin/crm/{model}/{pk}/change/").status_code == 404, model
    page = client_b.get(f"{DASHBOARD}?as_of=2024-06-15&months=6&label={tenant_a.label.pk}").content.decode()
    assert "Label B" in page
    assert "0.42 EUR" in page
    assert "app-1" in page
    assert "700.00" not in page
    listing = client_b.get("/admin/crm/order/").content.decode()
    assert "acme-2" not in listing
    guest = staff_client(outsider)
    for url in (DASHBOARD, "/admin/crm/order/", "/admin/crm/customerfinancials/", "/admin/crm/appfinancialconfig/"):
        assert guest.get(url).status_code == 403, url


def test_configuration_is_edited_with_config_change_only(books, tenant_a, tenant_b, staff_with_role, staff_client):
    app = AppFinancialConfig.objects.get(label=tenant_a.label)
    url = f"/admin/crm/appfinancialconfig/{app.pk}/change/"
    form = {"label": tenant_a.label.pk, "app_id": "app-1", "logo_churn_tolerance": "0.1"}
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT, "support_fin"))
    assert support.post(url, form).status_code == 403
    manager = staff_client(staff_with_role(tenant_a.label, Role.MANAGER, "manager_fin"))
    assert manager.post(url, form).status_code == 302
    app.refresh_from_db()
    assert app.logo_churn_tolerance == Decimal("0.1000")
    response = manager.post(url, {**form, "logo_churn_tolerance": "1.5"})
    assert response.status_code == 200
    assert "logo_churn_tolerance" in response.context["adminform"].form.errors
    corp = CustomerAccount.objects.get(label=tenant_a.label, account_id="corp")
    added = manager.post("/admin/crm/accountfinancialconfig/add/", {
        "account": corp.pk, "app_id": "app-1", "account_start_date": "2024-01-15", "arr_target": "1500"})  # fmt: skip
    assert added.status_code == 302
    config = AccountFinancialConfig.objects.get(account=corp)
    assert (config.label_id, config.arr_target, config.account_start_date) == (
        tenant_a.label.pk, Decimal("1500.00"), dt.date(2024, 1, 15))  # fmt: skip
    other = CustomerAccount.objects.get(label=tenant_b.label, account_id="acme")  # label B's account: not a choice
    refused = manager.post("/admin/crm/accountfinancialconfig/add/", {
        "account": other.pk, "app_id": "app-1", "account_start_date": "2024-01-15", "arr_target": "1"})  # fmt: skip
    assert refused.status_code == 200
    assert "account" in refused.context["adminform"].form.errors
    assert not AccountFinancialConfig.objects.filter(account=other).exists()
    assert support.get("/admin/crm/accountfinancialconfig/add/").status_code == 403


def test_orders_are_read_only_and_filtered(books, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    pk = Order.objects.get(label=tenant_a.label, order_id="acme-1").pk
    assert client.get("/admin/crm/order/add/").status_code == 403
    assert client.post(f"/admin/crm/order/{pk}/delete/").status_code == 403
    page = client.get("/admin/crm/order/?account_id=corp").content.decode()
    assert "corp-1" in page
    assert "corp-2" in page
    assert "acme-1" not in page
    page = client.get("/admin/crm/order/?active_on=2024-04-20").content.decode()
    assert "bolt-2" in page
    assert "bolt-1" not in page
    assert "corp-1" not in page


def test_the_months_download_as_csv(books, tenant_a, tenant_b, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.get(f"{DASHBOARD}?app=app-1&as_of=2024-06-15&months=6&format=csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines()[0] == (
        "month,mrr,arr,new,reactivation,expansion,contraction,churned,net_new,logos_start,logos_new,logos_churned,"
        "logos_end,logo_churn_rate,over_tolerance"
    )
    assert response["Content-Disposition"].endswith(f'financial-{tenant_a.label.label_key}-app-1-2024-06-15.csv"')
    assert response.content.decode().splitlines()[4:] == [  # April to June
        "2024-04-01,400.00,4800.00,0.00,0.00,0.00,100.00,200.00,-300.00,3,0,1,2,0.3333,True",
        "2024-05-01,600.00,7200.00,200.00,0.00,0.00,0.00,0.00,200.00,2,1,0,3,0.0000,False",
        "2024-06-01,700.00,8400.00,0.00,100.00,0.00,0.00,0.00,100.00,3,1,0,4,0.0000,False",
    ]
    acme = CustomerAccount.objects.get(label=tenant_a.label, account_id="acme")
    url = f"/admin/crm/customerfinancials/{acme.pk}/change/?as_of=2024-06-15&months=6&format=csv"
    assert client.get(url).content.decode().splitlines()[-1] == (
        "2024-06-01,200.00,2400.00,0.00,0.00,0.00,0.00,0.00,0.00,1,0,0,1,0.0000,False"
    )
    assert staff_client(tenant_b.admin).get(url).status_code == 404


def test_an_orders_page_shows_its_history(books, tenant_a, staff_client):
    order(tenant_a.label, "acme-1", "acme", 1500, "2024-01-01", "2024-12-31")
    pk = Order.objects.get(label=tenant_a.label, order_id="acme-1").pk
    page = staff_client(tenant_a.admin).get(f"/admin/crm/order/{pk}/change/").content.decode()
    assert 'data-testid="order-history"' in page
    assert "amount: 1200.00 → 1500.00" in page
    assert page.count("account: None → acme") == 1  # created once, changed once
