"""The admin's 404 and 403 pages in a real browser: the offer to switch label for an object of another of the user's
labels (and the switch landing on it), the plain page for support of one label and for a staff user with no label, and
the Event types page's built-in types. Screenshots land in var/screenshots/ (60-...)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.catalogue import CORE_TYPES, PROFILE_UPDATE
from tests.browser.test_admin_browser import (  # noqa: F401 - browser and casino are fixtures
    PASSWORD,
    SCREENSHOTS,
    _login,
    _shot,
    browser,
    casino,
)
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_404_offers_to_switch_to_my_other_label_and_lands_on_the_object(browser, live_server, casino):  # noqa: F811
    page = _login(browser, live_server, "alice")
    with page.expect_navigation():
        page.select_option("#pitboss-label-select", label="Riviera Gaming")
    atlas_brand = casino["atlas"].brands.get()
    url = f"{live_server.url}{reverse('admin:backoffice_brand_change', args=[atlas_brand.pk])}"
    response = page.goto(url)
    assert response.status == 404
    assert page.get_by_test_id("error-page").get_attribute("data-status") == "404"
    offer = page.get_by_test_id("switch-offer")
    assert "belongs to Atlas Bet, one of your labels" in " ".join(offer.inner_text().split())
    assert page.locator("#nav-sidebar").count() == 1  # inside the admin
    _shot(page, "60-404-switch-offer")
    offer.get_by_role("button", name="Switch to Atlas Bet and open it").click()
    page.wait_for_url(url)
    assert page.locator("#pitboss-label-select option:checked").inner_text() == "Atlas Bet"
    assert page.locator("input#id_name").input_value() == "Atlas Sports"
    _shot(page, "61-404-switched-to-the-object")


def test_support_of_one_label_and_a_staff_user_with_none_get_plain_pages(browser, live_server, casino):  # noqa: F811
    page = _login(browser, live_server, "sam")
    atlas_brand = casino["atlas"].brands.get()
    response = page.goto(f"{live_server.url}{reverse('admin:backoffice_brand_change', args=[atlas_brand.pk])}")
    assert response.status == 404
    assert page.get_by_test_id("switch-offer").count() == 0
    assert "Atlas" not in page.content()
    _shot(page, "62-404-plain")

    nobody = UserFactory(username="nobody")
    nobody.set_password(PASSWORD)
    nobody.save()
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", "nobody")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    response = page.goto(f"{live_server.url}{reverse('admin:backoffice_brand_changelist')}")
    assert response.status == 403
    assert "Access denied" in page.get_by_test_id("error-page").inner_text()
    _shot(page, "63-403-plain")

    anonymous = browser.new_page(viewport={"width": 1440, "height": 900})
    assert anonymous.goto(f"{live_server.url}/no-such-page/").status == 404
    assert "Page not found" in anonymous.get_by_test_id("error-page").inner_text()
    _shot(anonymous, "64-404-anonymous")


def test_the_event_types_page_lists_the_builtin_types(browser, live_server, casino):  # noqa: F811
    page = _login(browser, live_server, "sam")
    page.goto(f"{live_server.url}{reverse('admin:crm_eventtype_changelist')}")
    section = page.get_by_test_id("builtin-event-types")
    types = section.locator("details").evaluate_all("nodes => nodes.map(n => n.dataset.type)")
    assert set(types) == {*CORE_TYPES, PROFILE_UPDATE}
    section.locator("details[data-type=casino_bet] summary").click()
    rows = section.locator("details[data-type=casino_bet] tbody tr")
    assert rows.count() == 9
    assert re.sub(r"\s+", " ", rows.nth(2).inner_text()).startswith("game_name text (at most 255) REQUIRED")
    _shot(page, "65-event-types-builtin")
    section.locator("details[data-type=casino_bet]").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "66-event-types-casino-bet.png"))  # as seen, without full-page artefacts
