"""Segments in a real browser: a manager reads a segment's live count and members, and imports a CSV list whose
progress bar follows the import until its unmatched rows can be downloaded; support reads but cannot import.
Screenshots land in var/screenshots/ (80-…)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from crm.models import SegmentImport
from crm.services.segment_imports import segment_import_run
from crm.services.segments import segment_save
from tests.browser.test_admin_browser import PASSWORD, _shot, browser, casino  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _login(chrome, live_server, username: str):
    page = chrome.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_a_segment_its_members_and_an_imported_list(browser, live_server, casino, tmp_path):  # noqa: F811
    riviera = casino["riviera"]
    maltese = segment_save(
        label=riviera,
        name="Maltese actives",
        description="Active players in Malta",
        conditions={
            "all": [
                {"field": "core_account_status", "op": "eq", "value": "ACTIVE"},
                {"field": "user_country", "op": "eq", "value": "MT"},
            ]
        },
    )
    vip = segment_save(label=riviera, name="VIP list", kind="imported")
    page = _login(browser, live_server, "alice")
    page.click("#nav-sidebar a:has-text('Segments')")
    page.wait_for_url(re.compile(r".*/admin/crm/segment/$"))
    listed = page.locator("#result_list").inner_text()
    assert "Maltese actives" in listed
    assert "VIP list" in listed
    _shot(page, "80-segments-list")

    page.goto(f"{live_server.url}{reverse('admin:crm_segment_change', args=[maltese.pk])}")
    # MT and ACTIVE: every sixth of the 24 players (100200, 100206, 100212, 100218) and 777001
    assert page.get_by_test_id("segment-count").inner_text() == "5"
    assert page.locator("[name=conditions]").count() == 1  # the JSON box, or the builder's field
    _shot(page, "81-segment-change")

    page.goto(f"{live_server.url}{reverse('admin:crm_segment_members', args=[maltese.pk])}")
    members = page.get_by_test_id("segment-members").inner_text()
    assert "777001" in members
    assert "100200" in members
    assert "100201" not in members
    _shot(page, "82-segment-members")

    page.goto(f"{live_server.url}{reverse('admin:crm_segment_import', args=[vip.pk])}")
    csv_file = tmp_path / "vip.csv"
    csv_file.write_text("user_ext_id,ext_brand_id\n777001,lucky-spins\n100201,golden-reels\n=cmd|' /C calc'!A0,\n")
    page.set_input_files("input[type=file]", str(csv_file))
    _shot(page, "83-segment-import-form")
    page.click("button[type=submit]:has-text('Import')")
    page.wait_for_url(re.compile(rf".*/segment/{vip.pk}/import/$"))
    assert "Waiting" in page.get_by_test_id("segment-import").inner_text()
    _shot(page, "84-segment-import-waiting")
    segment_import_run(import_id=SegmentImport.objects.get(segment=vip).pk)  # the Celery worker's part
    page.wait_for_selector("text=Download the unmatched rows (CSV)", timeout=10_000)  # the poll saw it finish
    summary = page.get_by_test_id("segment-import").inner_text()
    assert "2 matched" in summary
    assert "1 unmatched" in summary
    assert "2 on the list" in summary
    _shot(page, "85-segment-import-done")

    support = _login(browser, live_server, "sam")
    support.goto(f"{live_server.url}{reverse('admin:crm_segment_import', args=[vip.pk])}")
    assert support.locator("input[type=file]").count() == 0
    assert "vip.csv" in support.get_by_test_id("segment-import").inner_text()
    support.goto(f"{live_server.url}{reverse('admin:crm_segment_change', args=[maltese.pk])}")
    assert support.locator("[name=conditions]").count() == 0  # read-only for support
    _shot(support, "86-segment-support-readonly")
