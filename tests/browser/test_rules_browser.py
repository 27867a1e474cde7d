"""Automation rules in a real browser: a manager reads a rule's stats chart, estimates its audience and runs a
backtest whose progress and results show on the page; support reads but has no backtest button. Screenshots land in
var/screenshots/ (80-84)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.automation.backtest import backtest_execute
from crm.models.rules import BacktestRun, RuleStatus
from crm.pipeline import events_apply
from crm.services.ingest import events_ingest
from tests.browser.test_admin_browser import PASSWORD, _shot, browser  # noqa: F401 - browser is a fixture
from tests.crm.rules.helpers import deposit, rule_make
from tests.factories import BrandFactory, LabelFactory, PlayerFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def casino(transactional_db):
    label = LabelFactory(name="Riviera Gaming", time_zone="Europe/Malta")
    brand = BrandFactory(label=label, name="Lucky Spins", ext_brand_id="shared-brand")
    for n in range(6):
        PlayerFactory(brand=brand, label=label, user_ext_id=f"p{n}", user_country="MT" if n % 2 else "GR")
    for username, role in (("mia", Role.MANAGER), ("sam", Role.SUPPORT)):
        user = UserFactory(username=username)
        StaffRoleFactory(user=user, label=label, role=role)
        user.set_password(PASSWORD)
        user.save()
    rule = rule_make(label, name="Big deposit bonus points", cap_count=2, cap_period="day",
                     activities=[{"type": "points", "amount": 50}, {"type": "set_marker", "marker": "depositor"}])  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    items = [deposit(80 + 30 * i, user=f"p{i % 6}", at=(now - dt.timedelta(hours=3 + 7 * i)).isoformat())
             for i in range(24)]  # fmt: skip
    result = events_ingest(label=label, items=items, source="api")
    events_apply(result.new_ids, group_names=["automation"])
    return rule


def _login(browser, live_server, username):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_a_manager_reads_stats_estimates_and_backtests_a_rule(browser, live_server, casino):  # noqa: F811
    page = _login(browser, live_server, "mia")
    page.click("#nav-sidebar a:has-text('Automation rules')")
    page.wait_for_url(re.compile(r".*/admin/crm/rule/$"))
    listed = page.locator("#result_list").inner_text()
    assert "Big deposit bonus points" in listed
    _shot(page, "80-rules-list")

    page.goto(f"{live_server.url}{reverse('admin:crm_rule_change', args=[casino.pk])}")
    assert page.get_by_test_id("rule-chart").locator("canvas").count() == 1
    _shot(page, "81-rule-stats")
    page.get_by_test_id("estimate-button").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=\"estimate-result\"]').textContent.includes('players')"
    )
    estimate = page.get_by_test_id("estimate-result").inner_text()
    assert estimate == "6 players in the audience; 23 of 24 trigger events in 7 days match (95.8 %)"
    _shot(page, "82-rule-estimate")

    page.fill("#backtest-days", "14")
    page.click("[data-testid=backtest-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*#backtest$"))
    backtest = BacktestRun.objects.get()
    assert backtest.status == "pending"
    _shot(page, "83-rule-backtest-pending")
    backtest_execute(backtest_id=backtest.pk)  # what the Celery task runs; the page polls and reloads when done
    page.wait_for_selector("[data-testid=backtest-summary]", timeout=15000)
    summary = page.get_by_test_id("backtest-summary").inner_text()
    backtest.refresh_from_db()
    assert f"{backtest.result['totals']['points']} points" in summary
    assert page.get_by_test_id("backtest-days").locator("tbody tr").count() == len(backtest.result["days"])
    _shot(page, "84-rule-backtest-done")


def test_support_reads_a_rule_without_actions(browser, live_server, casino):  # noqa: F811
    page = _login(browser, live_server, "sam")
    page.goto(f"{live_server.url}{reverse('admin:crm_rule_change', args=[casino.pk])}")
    assert page.get_by_test_id("rule-panels").count() == 1
    assert page.get_by_test_id("backtest-form").count() == 0
    assert page.get_by_text("Pause", exact=True).count() == 0
    _shot(page, "85-rule-support-readonly")
    assert casino.status == RuleStatus.ACTIVE
