"""Usage analytics in a real browser: a support agent opens the sidebar's customer accounts, an account with its
usage, users and latest events, then a user's attributes, devices (push token masked) and sessions; the integration
engineer maps an app to a brand. Screenshots land in var/screenshots/ (usage-*)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import UsageApp
from tests.browser.test_admin_browser import (  # noqa: F401 - browser is a fixture
    PASSWORD,
    _login,
    _shot,
    browser,
)
from tests.crm.usage_helpers import usage_world
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def usage_casino(transactional_db):
    from dataclasses import dataclass

    from backoffice.services.apikeys import api_key_create

    @dataclass
    class T:
        label: object
        brand: object

    label = LabelFactory(name="Riviera Gaming")
    tenant = T(label, BrandFactory(label=label, ext_brand_id="riviera", name="Riviera Casino"))
    account, user = usage_world(tenant, name="Northwind Affiliates")
    other = LabelFactory(name="Elsewhere")
    usage_world(T(other, BrandFactory(label=other, ext_brand_id="else")), name="Elsewhere Partner")
    for username, role in (("sam", Role.SUPPORT), ("ivy", Role.INTEGRATION_ENGINEER)):
        StaffRoleFactory(label=label, role=role, user=UserFactory(username=username, password=PASSWORD))
    api_key_create(label=label, name="k")
    return label, account, user


def test_support_reads_an_account_and_its_users(browser, live_server, usage_casino):  # noqa: F811
    _label, _account, _user = usage_casino
    page = _login(browser, live_server, "sam")
    page.get_by_role("link", name="Customer accounts").click()
    page.wait_for_url("**/crm/customeraccount/**")
    assert page.get_by_text("Northwind Affiliates").count() == 1
    assert page.get_by_text("Elsewhere Partner").count() == 0
    _shot(page, "usage-01-accounts")
    page.get_by_role("link", name="Northwind Affiliates").click()
    usage = page.get_by_test_id("account-usage")
    usage.wait_for()
    assert usage.get_by_text("Signed In").count() == 1
    # the user, its player (the same id: an authenticated user is the player), and the player of each event
    assert usage.get_by_role("link", name="u-1", exact=True).count() == 5
    _shot(page, "usage-02-account")
    usage.get_by_role("link", name="u-1", exact=True).first.click()
    details = page.get_by_test_id("usage-user-details")
    details.wait_for()
    assert details.get_by_text("••••1234").count() == 1
    assert details.get_by_text("Region").count() == 1
    _shot(page, "usage-03-user")


def test_integration_engineer_maps_an_app(browser, live_server, usage_casino):  # noqa: F811
    label, _, _ = usage_casino
    BrandFactory(label=label, ext_brand_id="riviera-sports", name="Riviera Sports")
    page = _login(browser, live_server, "ivy")
    page.get_by_role("link", name="Apps").click()
    page.wait_for_url("**/crm/usageapp/**")
    page.goto(f"{live_server.url}{reverse('admin:crm_usageapp_add')}")
    page.fill("#id_app_id", "sports-web")
    page.fill("#id_name", "Sportsbook web")
    page.select_option("#id_brand", label="Riviera Sports (riviera-sports)")
    _shot(page, "usage-04-app-form")
    page.click("button[name=_save]")
    page.wait_for_url("**/crm/usageapp/")
    _shot(page, "usage-05-apps")
    assert UsageApp.objects.get(label=label, app_id="sports-web").brand.ext_brand_id == "riviera-sports"
