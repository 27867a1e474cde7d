"""The player page's activity: the aggregates the pipeline keeps, and the player's latest events with a link to all
of them in the explorer. Label B's player has the same brand and user ids as label A's, so a leak cannot hide."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm.admin.players import TIMELINE_EVENTS
from crm.pipeline import events_apply
from tests.crm.test_admin_events import event, ingest

pytestmark = pytest.mark.django_db


def _page(client, player) -> str:
    response = client.get(reverse("admin:crm_player_change", args=[player.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _ago(minutes: int) -> str:
    return (timezone.now() - dt.timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def activity(tenant_a, tenant_b):
    """A's player: two deposits, a bet, a win and a login, their handlers run; B's player: one large deposit."""
    ids = ingest(
        tenant_a.label,
        event("d-1", "deposit", {"deposit_amount": 100, "deposit_method": "Trustly"}, occurred_at=_ago(50)),
        event("d-2", "deposit", {"deposit_amount": 50.5}, occurred_at=_ago(40)),
        event(
            "b-1",
            "casino_bet",
            {"bet_amount": 2.5, "game_id": "g-7", "game_name": "Gates of Olympus"},
            occurred_at=_ago(30),
        ),
        event(
            "w-1",
            "casino_win",
            {"win_amount": 40, "game_id": "g-7", "game_name": "Gates of Olympus"},
            occurred_at=_ago(20),
        ),
        event("l-1", "login", {"entry_point": "mobile_app"}, occurred_at=_ago(10)),
    )
    events_apply(ids)
    events_apply(ingest(tenant_b.label, event("d-1", "deposit", {"deposit_amount": 987654})))


def test_the_player_page_lists_the_latest_events_newest_first(activity, tenant_a, staff_with_role, staff_client):
    html = _page(staff_client(staff_with_role(tenant_a.label, Role.SUPPORT)), tenant_a.player)
    timeline = html[html.index('data-testid="player-timeline"') :]
    ids = re.findall(r'/admin/crm/event/\d+/change/">([^<]+)</a>', timeline)
    assert ids == ["l-1", "w-1", "b-1", "d-2", "d-1"]
    for expected in ("100 EUR · Trustly", "50.50 EUR", "2.50 EUR · Gates of Olympus", "40 EUR · Gates of Olympus",
                     "mobile_app", "casino_win", "Pending"):  # fmt: skip
        assert expected in timeline, expected
    assert "987,654" not in html  # label B's deposit of a player with the same ids
    explorer = reverse("admin:crm_event_changelist")
    assert f"{explorer}?player_id={tenant_a.player.pk}" in timeline


def test_the_explorer_link_lists_exactly_this_players_events(activity, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    response = client.get(reverse("admin:crm_event_changelist"), {"player_id": tenant_a.player.pk})
    assert [e.event_id for e in response.context["cl"].result_list] == ["l-1", "w-1", "b-1", "d-2", "d-1"]


def test_the_timeline_shows_the_latest_events_only(tenant_a, staff_client):
    ingest(tenant_a.label, *(event(f"e-{i:02d}", "login", {}, occurred_at=_ago(100 - i)) for i in range(55)))
    html = _page(staff_client(tenant_a.admin), tenant_a.player)
    ids = re.findall(r'/admin/crm/event/\d+/change/">([^<]+)</a>', html)
    assert ids == [f"e-{i:02d}" for i in range(54, 54 - TIMELINE_EVENTS, -1)]
    assert "Pending" in html  # no group has applied them yet (their status: tests/crm/test_admin_events_status.py)


def test_the_activity_section_shows_the_aggregates(activity, tenant_a, tenant_b, staff_client):
    html = _page(staff_client(tenant_a.admin), tenant_a.player)
    compact = re.sub(r"\s+", " ", html)
    for expected in ("2 · 150.50 EUR", "1 · 2.50 EUR", "40 EUR", "mobile_app", "0 · 0 EUR"):  # withdrawals: none
        assert expected in compact, expected
    b_page = _page(staff_client(tenant_b.admin), tenant_b.player)
    assert "1 · 987,654 EUR" in re.sub(r"\s+", " ", b_page)
    assert "Gates of Olympus" not in b_page


def test_a_player_without_events(tenant_a, staff_client):
    html = _page(staff_client(tenant_a.admin), tenant_a.player)
    assert "No events for this player yet." in html
    assert "0 · 0 EUR" in html


def test_the_player_page_costs_the_same_queries_for_3_or_50_events(tenant_a, staff_client, django_assert_num_queries):
    # session, user, roles, the switcher's labels, the sidebar's credit approvals, the player, its aggregates, its
    # latest events, their status in each consumer group, and the panels other apps add (the wallet card: the
    # wallet, its latest entries, its withheld credits; the bonuses card: the player's latest bonuses; the support
    # tickets card: the player's tickets)
    client = staff_client(tenant_a.admin)
    events_apply(ingest(tenant_a.label, *(event(f"a-{i}") for i in range(3))))
    _page(client, tenant_a.player)  # content types are cached after a first page
    with django_assert_num_queries(14):
        _page(client, tenant_a.player)
    events_apply(ingest(tenant_a.label, *(event(f"b-{i}", "login", {}) for i in range(60))))
    with django_assert_num_queries(14):
        html = _page(client, tenant_a.player)
    assert html.count("/admin/crm/event/") >= TIMELINE_EVENTS
