"""The control group: drawn once when a player is created, by the label's percentage; its players earn nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.errors import DomainError
from crm.models import Player
from crm.services.ingest import events_ingest
from crm.services.players import player_upsert
from gamification.models import WalletEntry
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db


def _label_pct(tenant, pct) -> None:
    tenant.label.control_group_pct = pct
    tenant.label.save()
    tenant.brand.refresh_from_db()


def _ingest(tenant, user_ids) -> None:
    items = [
        {
            "event_id": f"login-{user_id}",
            "type": "login",
            "ext_brand_id": tenant.brand.ext_brand_id,
            "user_ext_id": user_id,
            "occurred_at": "2026-01-10T12:00:00Z",
            "payload": {},
        }
        for user_id in user_ids
    ]
    result = events_ingest(label=tenant.label, items=items, source="api")
    assert result.counts()["accepted"] == len(user_ids)


@pytest.mark.parametrize(("pct", "expected"), [(100, True), (0, False)])
def test_players_created_through_the_api_and_ingest_follow_the_labels_percentage(tenant_a, key_client, pct, expected):
    _label_pct(tenant_a, pct)
    response = key_client.post("/api/v1/players", {"ext_brand_id": "shared-brand", "user_ext_id": "new"}, format="json")
    assert response.json()["player"]["ach_gamification_in_control_group"] is expected
    _ingest(tenant_a, ["from-events"])
    assert Player.objects.get(user_ext_id="from-events").ach_gamification_in_control_group is expected


def test_about_the_labels_share_of_new_players_is_drawn(tenant_a):
    _label_pct(tenant_a, 25)
    _ingest(tenant_a, [f"p{n}" for n in range(800)])
    drawn = Player.objects.filter(label=tenant_a.label, ach_gamification_in_control_group=True).count()
    assert 120 < drawn < 280  # 200 expected; outside this range is a one-in-millions accident


def test_the_draw_happens_once_an_update_keeps_the_flag(tenant_a):
    _label_pct(tenant_a, 100)
    player = player_upsert(brand=tenant_a.brand, user_ext_id="once", data={}).player
    _label_pct(tenant_a, 0)
    updated = player_upsert(brand=tenant_a.brand, user_ext_id="once", data={"core_username": "renamed"}).player
    assert updated.pk == player.pk
    assert Player.objects.get(pk=player.pk).ach_gamification_in_control_group is True
    # Existing players are not drawn again when the label's percentage changes, and the profile API cannot set it.
    assert tenant_a.player.ach_gamification_in_control_group is False


def test_the_profile_api_cannot_put_a_player_in_the_control_group(tenant_a, key_client):
    url = "/api/v1/players/shared-brand/shared-player"
    key_client.patch(url, {"ach_gamification_in_control_group": True}, format="json")
    assert key_client.get(url).json()["ach_gamification_in_control_group"] is False


def test_a_control_group_player_earns_nothing(tenant_a, key_client):
    Player.objects.filter(pk=tenant_a.player.pk).update(ach_gamification_in_control_group=True)
    tenant_a.player.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        wallet_adjust(player=tenant_a.player, currency="points", amount=10, source="mission", key="m")
    assert exc.value.code == "control_group"
    body = {"currency": "gems", "amount": 1, "idempotency_key": "k"}
    response = key_client.post("/api/v1/players/shared-brand/shared-player/wallet/adjustments", body, format="json")
    assert (response.status_code, response.json()["code"]) == (422, "control_group")
    assert not WalletEntry.objects.exists()
    assert wallet_get(player=tenant_a.player).gems == 0


def test_the_player_page_shows_the_flag(tenant_a, staff_client):
    html = staff_client(tenant_a.admin).get(reverse("admin:crm_player_change", args=[tenant_a.player.pk])).content
    assert "control group" in html.decode().lower()
