"""A player's whole gamification state: one selector, served by GET …/gamification and the admin's Gamification tab."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Role
from crm.models import Player
from gamification.models import (
    Badge,
    BadgeAward,
    Level,
    Mission,
    MissionTask,
    Tournament,
    TournamentInstance,
)
from gamification.selectors.state import gamification_state
from gamification.services.wallet import wallet_adjust
from tests.gamification.store_helpers import item_make

URL = "/api/v1/players/shared-brand/shared-player/gamification"


@pytest.fixture
def setup(tenant_a):
    label = tenant_a.label
    Level.objects.create(label=label, name="Bronze", required_points=0, is_default=True)
    Level.objects.create(label=label, name="Silver", required_points=100)
    mission = Mission.objects.create(label=label, name="Spin 10 slots", status="active", reward_points=50)
    MissionTask.objects.create(mission=mission, name="10 slot bets", event_type="casino_bet", target=10)
    Badge.objects.create(label=label, name="High roller")
    Badge.objects.create(label=label, name="Secret", visibility="hidden")
    now = timezone.now()
    tournament = Tournament.objects.create(
        label=label, name="Weekend race", status="active", starts_at=now, duration=dt.timedelta(days=2),
        event_type="casino_bet", registration_type="opt_in",
    )  # fmt: skip
    TournamentInstance.objects.create(
        label=label, tournament=tournament, status="registration", registration_opens_at=now - dt.timedelta(hours=1),
        starts_at=now + dt.timedelta(hours=1), ends_at=now + dt.timedelta(days=2),
    )  # fmt: skip
    item_make(label, name="Cap", price=30)
    wallet_adjust(player=tenant_a.player, currency="points", amount=40, source="api", key="k1")
    return tenant_a


def test_the_selector_gathers_balances_level_progress_missions_badges_tournaments_and_store(setup):
    state = gamification_state(player=setup.player)
    assert (state.wallet.points, state.level.current.name, state.level.next.name) == (40, "Bronze", "Silver")
    assert (state.level.points_to_next, state.level.percent) == (60, 40)
    assert [m.name for m in state.missions] == ["Spin 10 slots"]
    assert [b.name for b in state.badges] == ["High roller"]  # the hidden one appears once earned
    assert [t.instance.tournament.name for t in state.tournaments] == ["Weekend race"]
    assert [i.name for i in state.store] == ["Cap"]


def test_the_api_serves_the_whole_state(setup, key_client):
    body = key_client.get(URL).json()
    assert (body["ext_brand_id"], body["user_ext_id"], body["in_control_group"]) == (
        "shared-brand",
        "shared-player",
        False,
    )
    assert body["wallet"]["points"] == 40
    assert (body["level"]["current"]["name"], body["level"]["next"]["name"], body["level"]["percent"]) == (
        "Bronze",
        "Silver",
        40,
    )
    assert body["missions"][0]["name"] == "Spin 10 slots"
    assert body["missions"][0]["state"] == "available"
    assert [b["name"] for b in body["badges"]] == ["High roller"]
    assert len(body["tournaments"]) == 1
    assert body["store"][0]["name"] == "Cap"
    assert body["store"][0]["affordable"] is True


def test_a_control_group_player_sees_no_gamification(setup, key_client):
    Player.objects.filter(pk=setup.player.pk).update(ach_gamification_in_control_group=True)
    body = key_client.get(URL).json()
    assert body["in_control_group"] is True
    assert (body["missions"], body["badges"], body["tournaments"], body["store"]) == ([], [], [], [])


def test_each_label_sees_only_its_own_player(setup, tenant_b, outsider, staff_client):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")
    body = client.get(URL).json()  # the same external ids in label B: B's player, with none of A's configuration
    assert (body["wallet"]["points"], body["missions"], body["store"], body["level"]["current"]) == (0, [], [], None)
    assert client.get("/api/v1/players/shared-brand/nobody/gamification").status_code == 404
    assert APIClient().get(URL).status_code == 401
    outsider_client = APIClient()
    outsider_client.force_login(outsider)
    assert outsider_client.get(URL).status_code == 403  # a staff session with no label: refused before any lookup


# --- the admin's Gamification tab ------------------------------------------------------------------------------------


def _tab(player) -> str:
    return reverse("admin:crm_player_gamification", args=[player.pk])


def test_the_player_page_has_a_gamification_tab_showing_the_state(setup, staff_client):
    client = staff_client(setup.admin)
    profile = client.get(reverse("admin:crm_player_change", args=[setup.player.pk])).content.decode()
    assert _tab(setup.player) in profile
    html = client.get(_tab(setup.player)).content.decode()
    for text in ("Spin 10 slots", "Weekend race", "High roller", "Bronze", "60 points to Silver", "Adjust balance"):
        assert text in html


def test_the_tab_is_scoped_like_the_player_page(setup, tenant_b, outsider, staff_with_role, staff_client):
    assert staff_client(tenant_b.admin).get(_tab(setup.player)).status_code == 404
    assert staff_client(outsider).get(_tab(setup.player)).status_code == 403
    support = staff_client(staff_with_role(setup.label, Role.SUPPORT))
    assert support.get(_tab(setup.player)).status_code == 200


def test_staff_award_a_badge_once_per_submitted_form(setup, tenant_b, staff_with_role, staff_client):
    badge = Badge.objects.get(name="High roller")
    url = reverse("admin:crm_player_award_badge", args=[setup.player.pk])
    form = {"badge": badge.pk, "reason": "VIP call", "key": str(uuid.uuid4())}
    client = staff_client(setup.admin)
    assert client.get(url).status_code == 200
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302  # a double submit awards nothing more
    (award,) = BadgeAward.objects.filter(player=setup.player)
    assert (award.stage, award.source, award.reason, award.created_by) == (1, "manual", "VIP call", setup.admin)
    assert staff_client(tenant_b.admin).post(url, form | {"key": str(uuid.uuid4())}).status_code == 404
    foreign = Badge.objects.create(label=tenant_b.label, name="B badge")
    response = client.post(url, form | {"badge": foreign.pk, "key": str(uuid.uuid4())})
    assert response.status_code == 200  # not a choice: the form names the field
    assert "badge" in response.context["form"].errors
    assert BadgeAward.objects.count() == 1


def test_the_state_costs_the_same_queries_for_few_or_many_missions_badges_and_items(setup, key_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert key_client.get(URL).status_code == 200
        return len(captured)

    queries()  # warm: per-process caches (the label's missions for the handler, content types)
    few = queries()
    label = setup.label
    for n in range(8):
        mission = Mission.objects.create(label=label, name=f"Extra {n}", status="active", reward_points=1)
        MissionTask.objects.create(mission=mission, name="t", event_type="login", target=1)
        Badge.objects.create(label=label, name=f"Badge {n}")
        item_make(label, name=f"Item {n}", price=5)
    assert queries() == few
