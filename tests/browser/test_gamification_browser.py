"""Gamification in a real browser, on the demo's data after its day of events went through the pipeline: a manager
activates a mission from its preview, follows a tournament's live leaderboard, and opens a player's Gamification tab;
support reads but cannot act. Screenshots land in var/screenshots/."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from backoffice.management.commands.demo import DEMO_PASSWORD
from crm.pipeline import pipeline_drain
from gamification.models import Mission, TournamentInstance
from gamification.selectors.tournaments import tournament_leaderboard
from tests.browser.test_admin_browser import _shot, browser  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(transactional_db, settings):
    settings.SETTINGS_MODULE = "backoffice.settings.test"  # demo refuses production settings; it reads the name
    call_command("demo", stdout=io.StringIO())
    while pipeline_drain():  # every group applies the day, then the facts its handlers emitted
        pass
    return TournamentInstance.objects.get(tournament__name="Slots marathon")


def _login(chrome, live_server, username: str):
    page = chrome.new_page(viewport={"width": 1440, "height": 900})
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}{reverse('admin:index')}")
    return page


def test_a_manager_runs_missions_and_tournaments_and_reads_a_players_gamification(browser, live_server, demo):  # noqa: F811
    page = _login(browser, live_server, "demo_manager")
    page.click("#nav-sidebar a:has-text('Missions')")
    page.wait_for_url(re.compile(r".*/admin/gamification/mission/$"))
    listed = page.locator("#result_list").inner_text()
    assert "Spin 20 slot rounds" in listed
    assert "Halloween special" in listed
    _shot(page, "60-missions")

    draft = Mission.objects.get(name="Halloween special")
    page.goto(f"{live_server.url}{reverse('admin:gamification_mission_change', args=[draft.pk])}")
    assert "13 bets on Book of Dead" in page.content()
    _shot(page, "61-mission-draft-preview")
    page.click("a:has-text('Activate')")
    page.wait_for_url(re.compile(r".*/activate/$"))
    _shot(page, "62-mission-activate-confirm")
    page.click("button[type=submit]:has-text('Activate')")
    page.wait_for_url(re.compile(rf".*/mission/{draft.pk}/change/$"))
    draft.refresh_from_db()
    assert draft.status == "active"
    assert page.get_by_text("Activate", exact=True).count() == 0  # active: only Archive is offered now
    _shot(page, "63-mission-active")

    page.goto(f"{live_server.url}{reverse('admin:gamification_tournament_change', args=[demo.tournament_id])}")
    assert "Slots marathon" in page.content()
    _shot(page, "68-tournament-builder")

    board = tournament_leaderboard(instance=demo, limit=10)
    leader = board.players[board.top[0].player_id]
    page.goto(f"{live_server.url}{reverse('admin:gamification_tournamentinstance_leaderboard', args=[demo.pk])}")
    leaderboard = page.get_by_test_id("tournament-leaderboard")
    assert leader.user_ext_id in leaderboard.inner_text()
    _shot(page, "64-tournament-live-leaderboard")

    page.goto(f"{live_server.url}{reverse('admin:crm_player_change', args=[leader.pk])}")
    page.get_by_test_id("player-tabs").get_by_text("Gamification").click()
    page.wait_for_url(re.compile(rf".*/player/{leader.pk}/gamification/$"))
    tab = page.get_by_test_id("player-gamification").inner_text()
    assert "Slots marathon" in tab
    assert "Spin 20 slot rounds" in tab
    assert "Adjust balance" in tab
    _shot(page, "65-player-gamification-tab")


def test_support_reads_gamification_but_changes_no_configuration(browser, live_server, demo):  # noqa: F811
    page = _login(browser, live_server, "demo_support")
    mission = Mission.objects.get(name="Spin 20 slot rounds")
    page.goto(f"{live_server.url}{reverse('admin:gamification_mission_change', args=[mission.pk])}")
    assert page.get_by_text("Archive", exact=True).count() == 0
    assert page.locator("input[name=name]").count() == 0  # read-only
    _shot(page, "66-mission-support-read-only")
    page.goto(f"{live_server.url}{reverse('admin:gamification_tournamentinstance_change', args=[demo.pk])}")
    assert page.get_by_text("Cancel", exact=True).count() == 0
    _shot(page, "67-instance-support-read-only")
