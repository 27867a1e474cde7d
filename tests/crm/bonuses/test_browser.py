"""Bonuses in a real browser: support gives a bonus from the player page, the sandbox operator applies it, support
reads the bonus with its request and response and re-sends a failed one; an admin syncs the template catalogue.
Screenshots land in var/screenshots/ (80-…)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import Bonus, BonusTemplate
from crm.services.bonus_delivery import bonus_deliver
from integrations.bonus_api.services import bonus_connection_sandbox_ensure
from integrations.models import SandboxBonus
from tests.browser.test_admin_browser import _shot, browser  # noqa: F401 - browser is a fixture
from tests.crm.bonuses.conftest import template_make
from tests.factories import BrandFactory, LabelFactory, PlayerFactory, StaffRoleFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-123456!"


@pytest.fixture
def shop(transactional_db, live_server):
    label = LabelFactory(name="Riviera Gaming")
    brand = BrandFactory(label=label, ext_brand_id="riviera", name="Riviera Casino")
    player = PlayerFactory(brand=brand, label=label, user_ext_id="u-1001", core_username="lucky_mia")
    bonus_connection_sandbox_ensure(label=label, base_url=live_server.url)
    template_make(label, code="10FREE_SPIN_IN_GOLDEN_SLOT", name="10 free spins", type="free_spins")
    StaffRoleFactory(label=label, role=Role.SUPPORT, user=UserFactory(username="sam_support"))
    StaffRoleFactory(label=label, role=Role.ADMIN, user=UserFactory(username="ada_admin"))
    return player


def _login(chrome, live_server, username: str):
    page = chrome.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_support_gives_a_bonus_reads_it_and_resends_a_failed_one(browser, live_server, shop):  # noqa: F811
    page = _login(browser, live_server, "sam_support")
    page.goto(f"{live_server.url}{reverse('admin:crm_player_change', args=[shop.pk])}")
    assert "No bonuses for this player yet." in page.get_by_test_id("player-bonuses").inner_text()
    page.get_by_test_id("give-bonus").click()
    page.wait_for_url(re.compile(r".*/give-bonus/$"))
    page.select_option("#id_template", label="10 free spins (10FREE_SPIN_IN_GOLDEN_SLOT)")
    page.fill("#id_reason", "Ticket 4711: lost spins")
    _shot(page, "80-bonus-give-form")
    page.click("button[type=submit]:has-text('Give bonus')")
    page.wait_for_url(re.compile(rf".*/player/{shop.pk}/change/$"))
    bonus = Bonus.objects.get()
    assert (bonus.reason, bonus.source) == ("Ticket 4711: lost spins", "staff")
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"  # what the worker does
    page.reload()
    panel = page.get_by_test_id("player-bonuses").inner_text()
    assert "10 free spins" in panel
    assert "ISSUED" in panel.upper()
    _shot(page, "81-bonus-player-panel")

    page.get_by_test_id("player-bonuses").get_by_text("10 free spins").click()
    page.wait_for_url(re.compile(rf".*/bonus/{bonus.pk}/change/$"))
    assert bonus.idempotency_key in page.get_by_test_id("bonus-request").inner_text()
    assert SandboxBonus.objects.get().operator_bonus_id in page.get_by_test_id("bonus-response").inner_text()
    _shot(page, "82-bonus-page")

    Bonus.objects.filter(pk=bonus.pk).update(status="issue_failed", delivery_state="failed")
    page.reload()
    page.click("a:has-text('Re-send')")
    page.wait_for_url(re.compile(r".*/resend/$"))
    assert "SAME idempotency key" in page.content()
    _shot(page, "83-bonus-resend-confirm")
    page.click("button[type=submit]:has-text('Re-send')")
    page.wait_for_url(re.compile(rf".*/bonus/{bonus.pk}/change/$"))
    assert bonus_deliver(bonus_id=bonus.pk) == "issued"  # looked up: the operator had it
    assert SandboxBonus.objects.get().issue_calls == 1


def test_an_admin_syncs_the_catalogue(browser, live_server, shop):  # noqa: F811
    page = _login(browser, live_server, "ada_admin")
    page.click("#nav-sidebar a:has-text('Bonus templates')")
    page.wait_for_url(re.compile(r".*/admin/crm/bonustemplate/$"))
    page.click("a:has-text('Sync from the operator')")
    page.wait_for_url(re.compile(r".*/admin/crm/bonustemplate/$"))
    assert "3 new, 1 updated, 0 no longer offered" in page.content()
    assert BonusTemplate.objects.count() == 4
    _shot(page, "84-bonus-templates-synced")
    page.click("#nav-sidebar a:has-text('Sandbox Bonus API')")
    page.wait_for_url(re.compile(r".*/sandboxbonussettings/$"))
    _shot(page, "85-sandbox-bonus-api")
