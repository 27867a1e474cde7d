"""Affiliate tracking in a real browser: a visitor follows a tracking link (302 with the click id), the landing page
fires the pixel from JavaScript (CORS, 202), and a manager reads the report (chart, activity, funnel with skips) and a
click's funnel. Screenshots land in var/screenshots/ (affiliates-*)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.demo_affiliates import affiliates_demo
from crm.models import Click, Conversion, TrackingLink
from tests.browser.test_admin_browser import PASSWORD, _shot, browser  # noqa: F401 - browser is a fixture
from tests.factories import BrandFactory, LabelFactory, PlayerFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def casino(transactional_db):
    label = LabelFactory(name="Riviera Gaming")
    brand = BrandFactory(label=label, name="Lucky Spins", ext_brand_id="lucky")
    for n in range(40):
        PlayerFactory(brand=brand, label=label, user_ext_id=f"p{n}")
    user = UserFactory(username="mia")
    StaffRoleFactory(user=user, label=label, role=Role.MANAGER)
    user.set_password(PASSWORD)
    user.save()
    affiliates_demo(label)
    return label


def _login(browser, live_server, username):  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_a_visitor_clicks_converts_and_the_manager_reads_the_report(browser, live_server, casino):  # noqa: F811
    link = TrackingLink.objects.filter(label=casino, campaign__affiliate__code="1042").order_by("id").first()
    link.landing_url = f"{live_server.url}/healthz?lang=en"
    link.save()
    visitor = browser.new_page()
    visitor.goto(f"{live_server.url}/track/{link.token}?sub1=hero")
    landed = urlsplit(visitor.url)
    click_id = parse_qs(landed.query)["click_id"][0]
    assert landed.path == "/healthz"
    assert parse_qs(landed.query)["sub1"] == ["hero"]
    click = Click.objects.get(pk=click_id)
    assert click.params == {"sub1": "hero"}
    status = visitor.evaluate(
        "(id) => fetch(`/convert/${id}?type=registration&player_id=p3`).then(r => r.status)", click_id
    )
    assert status == 202
    conversion = Conversion.objects.get(click_id=click_id)
    assert (conversion.type, conversion.player.user_ext_id) == ("registration", "p3")
    assert conversion.user_agent.startswith("Mozilla/")

    page = _login(browser, live_server, "mia")
    page.click("#nav-sidebar a:has-text('Affiliate report')")
    page.wait_for_url(re.compile(r".*/admin/crm/affiliate/report/$"))
    assert page.get_by_test_id("report-chart").locator("canvas").count() == 1
    activity = page.get_by_test_id("report-activity").inner_text()
    assert "Acme Partners (1042)" in activity
    assert "Network X (partner-network-x)" in activity
    _shot(page, "affiliates-1-report")
    page.select_option("select[name=group]", "campaign")
    page.click("[data-testid=report-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*group=campaign.*"))
    assert "Spring welcome bonus" in page.get_by_test_id("report-funnel").inner_text()
    _shot(page, "affiliates-2-report-by-campaign")

    page.goto(f"{live_server.url}{reverse('admin:crm_trackinglink_change', args=[link.pk])}")
    assert page.get_by_test_id("tracking-url").inner_text() == f"{live_server.url}/track/{link.token}"
    _shot(page, "affiliates-3-link")
    page.goto(f"{live_server.url}{reverse('admin:crm_click_change', args=[click_id])}")
    steps = [line.split("\t")[:2] for line in page.get_by_test_id("click-funnel").inner_text().splitlines()]
    assert steps == [["Install", "SKIPPED"], ["Registration", "CONVERTED"], ["Deposit", "—"]]
    _shot(page, "affiliates-4-click")
