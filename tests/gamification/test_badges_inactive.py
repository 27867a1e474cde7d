"""Players whose account is not ACTIVE get no automated badge: the award is withheld and recorded, like a credit."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from crm.models import Event
from gamification.models import Badge, BadgeAward, BadgeStage, WalletEntry, WithheldCredit
from gamification.selectors import wallet_get
from gamification.services.badges import badge_award
from gamification.services.missions import mission_claim
from gamification.services.rewards import Reward, rewards_give
from tests.gamification.mission_helpers import bet, feed, mission_make

pytestmark = pytest.mark.django_db


def _badge(label, name="Spinner") -> Badge:
    badge = Badge.objects.create(label=label, name=name)
    BadgeStage.objects.create(badge=badge, number=1, name="Bronze")
    return badge


def _status(player, status="SELF_EXCLUDED"):
    player.core_account_status = status
    player.save(update_fields=["core_account_status"])
    return player


def _withheld() -> list[tuple]:
    rows = WithheldCredit.objects.order_by("key")
    return list(rows.values_list("key", "currency", "amount", "badge__name", "source", "account_status"))


@pytest.mark.parametrize("source", ["mission", "tournament", "rule", "journey"])
def test_an_automated_award_to_a_self_excluded_player_is_withheld_and_recorded_once(tenant_a, source):
    badge = _badge(tenant_a.label)
    player = _status(tenant_a.player)
    result = badge_award(player=player, badge=badge, source=source, key="k1", reason="Mission X")
    again = badge_award(player=player, badge=badge, source=source, key="k1", reason="Mission X")
    assert (result.created, result.award, again.created, again.award) == (False, None, False, None)
    assert result.withheld == again.withheld
    assert _withheld() == [("k1", "", 0, "Spinner", source, "SELF_EXCLUDED")]
    assert result.withheld.reason == "Mission X"
    assert result.withheld.label == tenant_a.label
    assert not BadgeAward.objects.exists()
    assert not Event.objects.filter(type="badge_earned").exists()


@pytest.mark.parametrize("source", ["manual", "api"])
def test_staff_and_the_operator_still_award_a_self_excluded_player(tenant_a, source):
    badge = _badge(tenant_a.label)
    result = badge_award(player=_status(tenant_a.player), badge=badge, source=source, key="k1")
    assert (result.created, result.award.stage, result.withheld) == (True, 1, None)
    assert not WithheldCredit.objects.exists()


def test_with_the_setting_off_a_self_excluded_player_earns_the_badge(tenant_a):
    tenant_a.label.active_players_only = False
    tenant_a.label.save(update_fields=["active_players_only"])
    result = badge_award(player=_status(tenant_a.player), badge=_badge(tenant_a.label), source="mission", key="k1")
    assert result.created
    assert not WithheldCredit.objects.exists()


def test_bulk_rewards_record_each_withheld_credit_and_badge(tenant_a, tenant_b):
    badge = _badge(tenant_a.label)
    player = _status(tenant_a.player, "BLOCKED")
    reward = Reward(player=player, key="mission:7", source="mission", reason="Spin 10", points=10, gems=2, badge=badge)
    rewards_give(rewards=[reward])
    rewards_give(rewards=[reward])  # a replayed batch records nothing twice
    assert _withheld() == [
        ("mission:7:badge", "", 0, "Spinner", "mission", "BLOCKED"),
        ("mission:7:gems", "gems", 2, None, "mission", "BLOCKED"),
        ("mission:7:points", "points", 10, None, "mission", "BLOCKED"),
    ]
    assert set(WithheldCredit.objects.values_list("reason", flat=True)) == {"Spin 10"}
    assert not WalletEntry.objects.exists()
    assert not BadgeAward.objects.exists()
    hidden = tenant_b.player
    hidden.ach_gamification_in_control_group = True
    hidden.save(update_fields=["ach_gamification_in_control_group"])
    rewards_give(rewards=[Reward(player=hidden, key="mission:8", source="mission", points=5)])
    assert WithheldCredit.objects.count() == 3  # the control group earns nothing and nothing is recorded


def test_a_mission_claimed_after_self_exclusion_withholds_its_points_and_its_badge(tenant_a):
    badge = _badge(tenant_a.label)
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], claim_required=True, reward_points=50,
                           reward_badge=badge)  # fmt: skip
    feed(tenant_a.label, [bet()])  # completed while ACTIVE, not claimed yet
    player = _status(tenant_a.player)
    mission_claim(player=player, mission=mission)
    keys = [row[0] for row in _withheld()]
    assert len(keys) == 2
    assert [row[1:4] for row in _withheld()] == [("", 0, "Spinner"), ("points", 50, None)]
    assert keys[0].endswith(":badge")
    assert wallet_get(player=player).points == 0
    assert not BadgeAward.objects.exists()


def test_the_admin_award_form_warns_and_awards_and_the_withheld_list_shows_badges_per_label(
    tenant_a, tenant_b, outsider, staff_client
):
    badge = _badge(tenant_a.label)
    player = _status(tenant_a.player)
    url = reverse("admin:crm_player_award_badge", args=[player.pk])
    admin_a = staff_client(tenant_a.admin)
    page = admin_a.get(url).content.decode()
    assert 'data-testid="not-active-warning"' in page
    assert "The player&#x27;s account is SELF_EXCLUDED, not ACTIVE" in page
    form = {"badge": badge.pk, "reason": "Goodwill", "key": str(uuid.uuid4())}
    assert admin_a.post(url, form).status_code == 302
    assert BadgeAward.objects.get().source == "manual"  # staff's award stands
    active = reverse("admin:crm_player_award_badge", args=[tenant_b.player.pk])
    assert 'data-testid="not-active-warning"' not in staff_client(tenant_b.admin).get(active).content.decode()
    assert staff_client(tenant_b.admin).get(url).status_code == 404
    assert staff_client(outsider).get(url).status_code == 403

    badge_award(player=player, badge=_badge(tenant_a.label, "Streak"), source="mission", key="mission:1:badge")
    other = _status(tenant_b.player, "BLOCKED")
    badge_award(player=other, badge=_badge(tenant_b.label, "B streak"), source="rule", key="rule:1:badge")
    listing = reverse("admin:gamification_withheldcredit_changelist")
    html = admin_a.get(listing).content.decode()
    assert "Badge: Streak" in html
    assert "B streak" not in html
    assert "Badge: B streak" in staff_client(tenant_b.admin).get(listing).content.decode()
    assert staff_client(outsider).get(listing).status_code == 403
    row = WithheldCredit.objects.get(key="mission:1:badge")
    change = reverse("admin:gamification_withheldcredit_change", args=[row.pk])
    assert admin_a.get(change).status_code == 200
    assert staff_client(tenant_b.admin).get(change).status_code == 404
