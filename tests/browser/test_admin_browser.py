"""The admin in a real browser (Debian's chromium through Playwright), as a label admin and as support.

Screenshots of every step land in var/screenshots/ so a person can look at them.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.urls import reverse

from backoffice.models import ApiKey, Role
from backoffice.models.apikeys import key_digest
from backoffice.services.apikeys import api_key_create
from crm.services.players import player_upsert
from tests.factories import BrandFactory, LabelFactory, StaffRoleFactory, UserFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "browser-pass-123!"
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class CspWatchedBrowser:
    """The browser, each of whose pages records the Content-Security-Policy violations Chromium reports."""

    def __init__(self, browser):
        self._browser = browser
        self.csp_violations: list[str] = []

    def new_page(self, **kwargs):
        page = self._browser.new_page(**kwargs)
        page.on("console", lambda message: self._record(page, message))
        return page

    def _record(self, page, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(f"{page.url}: {message.text}")

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def browser(monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run these tests."
        )
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = CspWatchedBrowser(playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS))
        yield browser
        browser.close()
        # Inside Playwright's loop the ORM runs on a connection of its own; close it, or it outlives the test database.
        connections.close_all()
    # Every page every browser test visits runs under the site's Content-Security-Policy and breaks none of it.
    assert browser.csp_violations == []


@pytest.fixture
def casino(transactional_db):
    """Two labels for Alice (admin of both), one for Bob; a support agent in Alice's first label; real players."""
    riviera = LabelFactory(name="Riviera Gaming")
    atlas = LabelFactory(name="Atlas Bet")
    other = LabelFactory(name="Northwind Casino")
    spins = BrandFactory(label=riviera, name="Lucky Spins", ext_brand_id="lucky-spins")
    reels = BrandFactory(label=riviera, name="Golden Reels", ext_brand_id="golden-reels")
    atlas_brand = BrandFactory(label=atlas, name="Atlas Sports", ext_brand_id="atlas-sports")
    BrandFactory(label=other, name="Northwind", ext_brand_id="northwind")
    alice = UserFactory(username="alice", email="alice@riviera.example", first_name="Alice", last_name="Moreau")
    for label in (riviera, atlas):
        StaffRoleFactory(user=alice, label=label, role=Role.ADMIN)
    api_key_create(label=riviera, name="Operator platform")
    sam = UserFactory(username="sam", email="sam@riviera.example")
    StaffRoleFactory(user=sam, label=riviera, role=Role.SUPPORT)
    for user in (alice, sam):
        user.set_password(PASSWORD)
        user.save()
    now = dt.datetime.now(dt.UTC)
    statuses = ["ACTIVE", "ACTIVE", "ACTIVE", "PENDING", "SELF_EXCLUDED", "BLOCKED"]
    countries = ["MT", "DE", "SE", "FI", "GB", "IE"]
    for i in range(24):
        brand = (spins, reels, atlas_brand)[i % 3]
        player_upsert(
            brand=brand,
            user_ext_id=f"{100200 + i}",
            data={
                "core_username": f"player{i:02d}",
                "core_account_status": statuses[i % len(statuses)],
                "user_country": countries[i % len(countries)],
                "core_wallet_currency": "EUR" if i % 2 else "SEK",
                "core_user_language": "EN",
                "core_registration_date": (now - dt.timedelta(days=i * 3)).isoformat(),
            },
        )
    star = player_upsert(
        brand=spins,
        user_ext_id="777001",
        data={
            "core_username": "highroller",
            "user_first_name": "Maria",
            "user_last_name": "Borg",
            "user_email": "Maria.Borg@example.com",
            "user_phone": "+356 9912 3456",
            "user_country": "MT",
            "core_wallet_currency": "EUR",
            "core_user_language": "EN",
            "core_user_gender": "FEMALE",
            "core_kyc_status": "verified",
            "core_affiliate_id": 4711,
            "core_registration_date": (now - dt.timedelta(days=400)).isoformat(),
            "user_birthdate": "1988-04-12T00:00:00Z",
            "core_is_sms_disabled_by_platform": True,
            "custom": {"vip_tier": "gold", "favourite_game": "Book of Ra", "lifetime_deposits": 15230.5},
            "markers": ["vip", "high_roller", "sports_fan"],
        },
    ).player
    return {"riviera": riviera, "atlas": atlas, "other": other, "spins": spins, "star": star}


def _shot(page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _login(browser, live_server, username: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    _shot(page, "00-login")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_label_admin_works_through_the_admin(browser, live_server, casino):
    page = _login(browser, live_server, "alice")
    dashboard = page.get_by_test_id("dashboard")
    assert "Riviera Gaming" in dashboard.inner_text()
    assert "Atlas Bet" in dashboard.inner_text()
    assert "Northwind" not in page.content()
    _shot(page, "01-dashboard-all-labels")

    # The switcher narrows everything to one label.
    page.select_option("#pitboss-label-select", label="Riviera Gaming")
    page.wait_for_load_state()
    assert page.locator("#pitboss-label-select option:checked").inner_text() == "Riviera Gaming"
    assert "Atlas Bet" not in page.get_by_test_id("dashboard").inner_text()
    assert "Lucky Spins" in page.get_by_test_id("dashboard").inner_text()
    _shot(page, "02-dashboard-one-label")

    page.click("#nav-sidebar a:has-text('Players')")
    page.wait_for_url(re.compile(r".*/admin/crm/player/$"))
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 17  # 16 of Riviera's 24 + Maria; Atlas's players are out of view
    _shot(page, "03-players")
    page.click("text=Filters")
    page.wait_for_timeout(300)  # the filter sheet slides in
    assert page.locator("select[name=brand__id__exact] option").all_inner_texts() == [
        "All",
        "Golden Reels (golden-reels)",
        "Lucky Spins (lucky-spins)",
    ]
    page.screenshot(path=str(SCREENSHOTS / "03-players-filters.png"))
    page.keyboard.press("Escape")

    page.fill("#searchbar", "maria.borg@EXAMPLE.com ")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*\?q=.*"))
    assert page.locator("#result_list tbody tr").count() == 1
    _shot(page, "04-players-search-by-email")

    page.click("#result_list tbody tr a:has-text('777001')")
    page.wait_for_url(re.compile(rf".*/admin/crm/player/{casino['star'].pk}/change/.*"))
    content = page.content()
    for expected in ("maria.borg@example.com", "+35699123456", "Book of Ra", "high_roller", "Opted out"):
        assert expected in content, expected
    assert page.locator("[name=_save]").count() == 0  # read-only
    _shot(page, "05-player-profile")

    # An API key: shown once after saving (the one label in view is preselected), then only its prefix.
    page.goto(f"{live_server.url}{reverse('admin:backoffice_apikey_add')}")
    page.fill("#id_name", "Platform events")
    _shot(page, "06-api-key-add")
    page.click("[name=_save]")
    raw = page.locator("code.pitboss-secret").inner_text().strip()
    assert "won't be shown again" in page.content()
    key = ApiKey.objects.get(name="Platform events")
    assert (key.digest, key.label_id) == (key_digest(raw), casino["riviera"].pk)
    _shot(page, "07-api-key-created")
    page.reload()
    assert raw not in page.content()

    # Revoking asks first, then the key stays listed as revoked.
    page.goto(f"{live_server.url}{reverse('admin:backoffice_apikey_change', args=[key.pk])}")
    _shot(page, "08-api-key")
    page.click(f"a[href='{reverse('admin:backoffice_apikey_revoke', args=[key.pk])}']")
    page.wait_for_url(re.compile(r".*/revoke/$"))
    _shot(page, "09-api-key-revoke-confirm")
    page.click("button:has-text('Revoke key')")
    page.wait_for_url(re.compile(rf".*/admin/backoffice/apikey/{key.pk}/change/$"))
    assert "refuses it from now on" in page.content()
    page.goto(f"{live_server.url}{reverse('admin:backoffice_apikey_changelist')}")
    assert "REVOKED" in page.locator("#result_list").inner_text().upper()
    assert page.locator("#result_list input.action-select").count() == 2  # bulk revoke, for those who may
    _shot(page, "10-api-keys")

    # Label settings: admins see the salt, with a button to rotate it.
    page.goto(f"{live_server.url}{reverse('admin:backoffice_label_change', args=[casino['riviera'].pk])}")
    assert casino["riviera"].salt in page.content()
    assert page.get_by_text("Rotate salt").count() == 1
    _shot(page, "11-label-settings")

    # A new staff user with a role, in one step.
    page.goto(f"{live_server.url}{reverse('admin:backoffice_staffrole_add')}")
    page.select_option("#id_role", "manager")
    page.fill("#id_new_username", "nina")
    page.fill("#id_new_email", "nina@riviera.example")
    page.fill("#id_new_password", "Nina-long-passphrase-7")
    _shot(page, "12-staff-role-add")
    page.click("[name=_save]")
    page.wait_for_url(re.compile(r".*/admin/backoffice/staffrole/$"))
    assert "nina" in page.locator("#result_list").inner_text()
    _shot(page, "13-staff-roles")


def test_support_sees_no_change_buttons(browser, live_server, casino):
    page = _login(browser, live_server, "sam")
    assert "Riviera Gaming" in page.get_by_test_id("dashboard").inner_text()
    _shot(page, "20-support-dashboard")
    page.goto(f"{live_server.url}{reverse('admin:backoffice_brand_change', args=[casino['spins'].pk])}")
    assert "Lucky Spins" in page.content()
    assert page.locator("[name=_save]").count() == 0
    assert page.locator("input#id_name").count() == 0  # fields render as text, not inputs
    _shot(page, "21-support-brand")
    page.goto(f"{live_server.url}{reverse('admin:backoffice_label_change', args=[casino['riviera'].pk])}")
    assert "Riviera Gaming" in page.content()
    assert casino["riviera"].salt not in page.content()
    assert page.get_by_text("Rotate salt").count() == 0
    _shot(page, "22-support-label")
    page.goto(f"{live_server.url}{reverse('admin:backoffice_apikey_changelist')}")
    assert "Operator platform" in page.locator("#result_list").inner_text()
    assert page.locator(f"a[href='{reverse('admin:backoffice_apikey_add')}']").count() == 0
    assert page.locator("#result_list input.action-select").count() == 0  # no bulk revoke
    _shot(page, "23-support-api-keys")
    page.goto(f"{live_server.url}{reverse('admin:crm_player_change', args=[casino['star'].pk])}")
    assert "maria.borg@example.com" in page.content()
    assert page.locator("[name=_save]").count() == 0
    _shot(page, "24-support-player")


def test_superuser_reaches_the_system_pages(browser, live_server, casino):
    root = UserFactory(username="root", is_superuser=True)
    root.set_password(PASSWORD)
    root.save()
    page = _login(browser, live_server, "root")
    sidebar = page.locator("#nav-sidebar").inner_text()
    for item in ("Users", "Groups", "Periodic tasks", "Crontabs"):
        assert item in sidebar, item
    assert "Northwind Casino" in page.get_by_test_id("dashboard").inner_text()
    _shot(page, "30-superuser-dashboard")
    page.click("#nav-sidebar a:has-text('Periodic tasks')")
    page.wait_for_url(re.compile(r".*/admin/django_celery_beat/periodictask/$"))
    _shot(page, "31-superuser-periodic-tasks")
    page.goto(f"{live_server.url}{reverse('admin:auth_user_change', args=[root.pk])}")
    _shot(page, "32-superuser-user")


def test_api_docs_and_the_lockout_page_work_under_the_content_security_policy(browser, live_server, casino):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('api-docs')}")
    page.wait_for_selector("text=Pitboss partner API")
    assert page.locator(".opblock").count() > 10  # every operation rendered by Swagger UI's scripts
    _shot(page, "40-api-docs")

    for _ in range(5):
        page.goto(f"{live_server.url}{reverse('admin:login')}")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "not-her-password")
        page.click("button[type=submit]")
    assert "Too many failed logins" in page.locator("h1").inner_text()
    _shot(page, "41-admin-lockout")
