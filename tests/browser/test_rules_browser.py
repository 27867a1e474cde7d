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


def test_a_manager_edits_a_rules_activities_row_by_row(browser, live_server, casino):  # noqa: F811
    from crm.models import BonusTemplate

    cash = BonusTemplate.objects.create(label=casino.label, name="5 EUR cash", operator_code="CASH_5_EUR", type="cash")
    page = _login(browser, live_server, "mia")
    page.goto(f"{live_server.url}{reverse('admin:crm_rule_change', args=[casino.pk])}")
    rows = page.get_by_test_id("activity")
    page.wait_for_function("document.querySelectorAll('[data-testid=\"activity\"]').length === 2")
    preview = page.get_by_test_id("activities-preview")
    assert preview.inner_text() == "Add 50 points; then set the marker “depositor”."
    assert page.locator("textarea[name=activities]").is_hidden()  # the JSON is there, behind "Show the JSON"

    rows.nth(0).get_by_test_id("activity-amount").fill("25")
    page.get_by_test_id("add-activity").click()
    rows.nth(2).get_by_test_id("activity-type").select_option("bonus")
    assert rows.nth(2).get_by_test_id("activity-choice").input_value() == str(cash.pk)
    rows.nth(1).get_by_label("Move up").click()  # the marker first
    assert preview.inner_text() == (
        "Set the marker “depositor”; then add 25 points; then give the bonus “5 EUR cash (CASH_5_EUR)”."
    )
    _shot(page, "86-rule-activities-editor")
    with page.expect_navigation():
        page.click("button[name=_continue]")
    casino.refresh_from_db()
    assert casino.activities == [
        {"type": "set_marker", "marker": "depositor"},
        {"type": "points", "amount": 25},
        {"type": "bonus", "template": cash.pk},
    ]

    # A wrong value is refused by the server, shown under its own row, and nothing is saved.
    page.wait_for_function("document.querySelectorAll('[data-testid=\"activity\"]').length === 3")
    page.get_by_test_id("activity").nth(1).get_by_test_id("activity-amount").fill("0")
    with page.expect_navigation():
        page.click("button[name=_continue]")
    page.wait_for_selector("[data-testid=activity] .pb-errors")
    errors = page.get_by_test_id("activity").nth(1).locator(".pb-errors").inner_text()
    assert errors == "A whole number from 1 to 1,000,000,000."
    assert page.get_by_text("Activity 2, amount").is_visible() is False  # shown once: under its row, not also above
    _shot(page, "87-rule-activities-error")
    casino.refresh_from_db()
    assert casino.activities[1] == {"type": "points", "amount": 25}

    # An accumulation per wallet currency, typed as the manager would say it.
    row = page.get_by_test_id("activity").nth(1)
    row.get_by_test_id("activity-type").select_option("accumulate")
    assert page.locator("[data-testid=activity] .pb-errors").count() == 0  # the rows changed: the old error went
    row = page.get_by_test_id("activity").nth(1)
    row.get_by_label("Per (a number, or one per wallet currency: EUR 10, GBP 8)").fill("EUR 10, gbp 8.5")
    row.get_by_label("Field").fill("amount")
    assert preview.inner_text() == (
        "Set the marker “depositor”; then add 1 point per EUR 10, GBP 8.5 of amount (the rest carried over); "
        "then give the bonus “5 EUR cash (CASH_5_EUR)”."
    )
    with page.expect_navigation():
        page.click("button[name=_continue]")
    casino.refresh_from_db()
    assert casino.activities[1] == {
        "type": "accumulate", "currency": "points", "field": "amount", "per": {"EUR": 10, "GBP": 8.5}, "amount": 1,
    }  # fmt: skip

    # A webhook: its URL and a JSON body with placeholders; a body that is not JSON yet says so and is not saved.
    row = page.get_by_test_id("activity").nth(2)
    row.get_by_test_id("activity-type").select_option("webhook")
    row = page.get_by_test_id("activity").nth(2)
    row.get_by_label("URL").fill("https://crm.example.com/hooks/deposit")
    row.get_by_label("Body").fill('{"player": "{{player.user_ext_id}}", "amount"')
    assert row.locator(".pb-help").inner_text() == "Not valid JSON yet."
    row.get_by_label("Body").fill('{"player": "{{player.user_ext_id}}", "amount": "{{event.deposit_amount}}"}')
    assert preview.inner_text().endswith("; then call https://crm.example.com/hooks/deposit.")
    with page.expect_navigation():
        page.click("button[name=_continue]")
    casino.refresh_from_db()
    assert casino.activities[2] == {
        "type": "webhook", "url": "https://crm.example.com/hooks/deposit",
        "body": {"player": "{{player.user_ext_id}}", "amount": "{{event.deposit_amount}}"},
    }  # fmt: skip
