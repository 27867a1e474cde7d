"""Financial data in a real browser: a manager opens the financial dashboard from the sidebar, picks an app and reads
its charts and months (logo churn over tolerance flagged), opens an account's financial page from the list and sets
its ARR target. Screenshots land in var/screenshots/ (90-94)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import AccountFinancialConfig, CustomerAccount
from tests.browser.test_admin_browser import PASSWORD, _shot, browser  # noqa: F401 - browser is a fixture
from tests.crm.financial.helpers import book
from tests.factories import LabelFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def finance_label(transactional_db):
    label = LabelFactory(name="Riviera Gaming")
    book(label)
    user = UserFactory(username="fran")
    StaffRoleFactory(user=user, label=label, role=Role.MANAGER)
    user.set_password(PASSWORD)
    user.save()
    return label


def _login(browser, live_server, username):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_a_manager_reads_the_dashboards_and_sets_a_target(browser, live_server, finance_label):  # noqa: F811
    page = _login(browser, live_server, "fran")
    page.click("#nav-sidebar a:has-text('Financial dashboard')")
    page.wait_for_url(re.compile(r".*/admin/crm/appfinancialconfig/dashboard/$"))
    page.select_option("select[name=app]", "app-1")
    page.fill("input[name=as_of]", "2024-06-15")
    page.select_option("select[name=months]", "6")
    page.click("[data-testid=financial-filters] button[type=submit]")
    page.wait_for_url(re.compile(r".*app=app-1.*"))
    assert page.locator("[data-kpi=mrr] [data-kpi-value]").inner_text() == "700.00 EUR"
    assert page.locator("[data-kpi=arr] [data-kpi-value]").inner_text() == "8,400.00 EUR"
    for chart in ("chart-movements", "chart-arr", "chart-churn"):
        assert page.get_by_test_id(chart).locator("canvas").count() == 1, chart
    page.wait_for_function("document.querySelectorAll('canvas.chart').length === 3")
    page.wait_for_timeout(300)  # Chart.js draws on the next frame
    assert page.locator("[data-over-tolerance]").count() == 1
    _shot(page, "90-financial-dashboard")

    page.click("#nav-sidebar a:has-text('Account financials')")
    page.wait_for_url(re.compile(r".*/admin/crm/customerfinancials/$"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 6  # acme, bolt, corp, fern, dune (a draft), eve
    _shot(page, "91-account-financials")

    corp = CustomerAccount.objects.get(label=finance_label, account_id="corp")
    page.goto(f"{live_server.url}{reverse('admin:crm_customerfinancials_change', args=[corp.pk])}"
              "?as_of=2024-06-15&months=6")  # fmt: skip
    assert page.locator("[data-kpi=mrr] [data-kpi-value]").inner_text() == "100.00 EUR"
    assert "corp-2" in page.get_by_test_id("account-orders").inner_text()
    page.wait_for_timeout(300)
    _shot(page, "92-account-page")

    page.get_by_test_id("edit-target").click()
    page.wait_for_url(re.compile(r".*/accountfinancialconfig/add/.*"))
    page.fill("#id_account_start_date", "2024-01-15")
    page.fill("#id_arr_target", "2000")
    _shot(page, "93-set-target")
    page.click("button[name=_save]")
    page.wait_for_url(re.compile(r".*/accountfinancialconfig/$"))
    assert AccountFinancialConfig.objects.get(account=corp).arr_target == 2000
    page.goto(f"{live_server.url}{reverse('admin:crm_customerfinancials_change', args=[corp.pk])}"
              "?as_of=2024-06-15&months=6")  # fmt: skip
    assert "60.0 % reached" in page.locator("[data-kpi=arr-target]").inner_text()
    _shot(page, "94-account-with-target")
    assert browser.csp_violations == []
