"""Levels: a player's level follows the ever-earned points, and a change is a `level_changed` event."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from backoffice.models import Role
from crm.models import Event
from gamification.models import Level
from gamification.selectors import wallet_get
from gamification.services.wallet import wallet_adjust

pytestmark = pytest.mark.django_db


@pytest.fixture
def levels(tenant_a):
    label = tenant_a.label
    return {
        "bronze": Level.objects.create(label=label, name="Bronze", required_points=0, is_default=True),
        "silver": Level.objects.create(label=label, name="Silver", required_points=100, names={"EN": "Silver"}),
        "gold": Level.objects.create(label=label, name="Gold", required_points=500),
    }


def _credit(player, amount, key, **kwargs):
    return wallet_adjust(player=player, currency="points", amount=amount, source="mission", key=key, **kwargs)


def _level_events(label):
    return list(Event.objects.filter(label=label, type="level_changed").order_by("id"))


def test_the_level_follows_ever_earned_points_and_each_change_is_an_event(
    tenant_a, levels, django_capture_on_commit_callbacks
):
    player = tenant_a.player
    with django_capture_on_commit_callbacks(execute=True):
        first = _credit(player, 50, "m1")
    assert wallet_get(player=player).level == levels["bronze"]
    with django_capture_on_commit_callbacks(execute=True):
        _credit(player, 60, "m2")
        wallet_adjust(player=player, currency="points", amount=-110, source="store", key="s1")  # spending keeps it
    with django_capture_on_commit_callbacks(execute=True):
        last = _credit(player, 400, "m3")
    assert wallet_get(player=player).level == levels["gold"]
    events = _level_events(tenant_a.label)
    assert [e.payload["level_name"] for e in events] == ["Bronze", "Silver", "Gold"]
    assert events[0].payload == {"level_id": levels["bronze"].pk, "level_name": "Bronze"}
    assert events[2].payload == {
        "level_id": levels["gold"].pk,
        "level_name": "Gold",
        "previous_level_id": levels["silver"].pk,
        "previous_level_name": "Silver",
    }
    assert events[0].event_id == f"level:{player.pk}:{levels['bronze'].pk}:{first.entry.pk}"
    assert events[2].event_id == f"level:{player.pk}:{levels['gold'].pk}:{last.entry.pk}"
    assert {(e.player_id, e.source) for e in events} == {(player.pk, "system")}


def test_no_event_without_a_change_a_replay_or_a_credit_that_does_not_count(
    tenant_a, levels, django_capture_on_commit_callbacks
):
    player = tenant_a.player
    with django_capture_on_commit_callbacks(execute=True):
        _credit(player, 10, "m1")
        _credit(player, 10, "m2")  # still bronze
        _credit(player, 10, "m1")  # replay
        _credit(player, 1000, "bonus", counts_as_earned=False)
        wallet_adjust(player=player, currency="gems", amount=1000, source="mission", key="g")
    assert [e.payload["level_name"] for e in _level_events(tenant_a.label)] == ["Bronze"]
    assert wallet_get(player=player).level == levels["bronze"]


def test_a_refused_credit_emits_nothing(tenant_a, levels, django_capture_on_commit_callbacks):
    _credit(tenant_a.player, 10, "m1")
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Exception, match="different"):
        _credit(tenant_a.player, 1000, "m1")
    assert [e.payload["level_name"] for e in _level_events(tenant_a.label)] == ["Bronze"]  # the first credit's
    assert wallet_get(player=tenant_a.player).points_earned == 10


def test_a_label_without_levels_gives_no_level(tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _credit(tenant_a.player, 10, "m1")
    assert wallet_get(player=tenant_a.player).level is None
    assert _level_events(tenant_a.label) == []


def test_levels_are_unique_by_points_with_one_default_per_label(tenant_a, tenant_b, levels):
    with transaction.atomic(), pytest.raises(IntegrityError):
        Level.objects.create(label=tenant_a.label, name="Other", required_points=100)
    with transaction.atomic(), pytest.raises(IntegrityError):
        Level.objects.create(label=tenant_a.label, name="Other", required_points=1, is_default=True)
    Level.objects.create(label=tenant_b.label, name="B default", required_points=100, is_default=True)
    with pytest.raises(ValidationError):
        Level(label=tenant_a.label, name="x", required_points=7, names={"english": 1}).full_clean()


def test_the_wallet_api_shows_the_level(tenant_a, levels, key_client):
    _credit(tenant_a.player, 150, "m1")
    level = key_client.get("/api/v1/players/shared-brand/shared-player/wallet").json()["level"]
    assert (level["name"], level["required_points"], level["names"]) == ("Silver", 100, {"EN": "Silver"})


def test_managers_configure_levels_support_only_reads_and_other_labels_see_nothing(
    tenant_a, tenant_b, levels, staff_with_role, staff_client
):
    add = reverse("admin:gamification_level_add")
    form = {"label": tenant_a.label.pk, "name": "Platinum", "required_points": 2000}
    form |= {"names": "{}", "descriptions": "{}", "custom": "{}", "image_url": ""}
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support.get(reverse("admin:gamification_level_changelist")).status_code == 200
    assert support.post(add, form).status_code == 403
    manager = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert manager.post(add, form).status_code == 302
    assert Level.objects.filter(label=tenant_a.label, name="Platinum").exists()
    change_a = reverse("admin:gamification_level_change", args=[levels["gold"].pk])
    assert staff_client(tenant_b.admin).get(change_a).status_code == 404


def test_the_level_page_previews_the_ladder_with_players_per_level(tenant_a, levels, staff_client):
    _credit(tenant_a.player, 150, "m1")
    url = reverse("admin:gamification_level_change", args=[levels["silver"].pk])
    html = staff_client(tenant_a.admin).get(url).content.decode()
    assert 'data-testid="level-ladder"' in html
    assert "100 to 499" in html
    assert "1 player<" in html


def test_partners_read_their_labels_ladder(tenant_a, tenant_b, levels, key_client):
    Level.objects.create(label=tenant_b.label, name="B only", required_points=5)
    body = key_client.get("/api/v1/levels").json()
    assert [(lvl["name"], lvl["required_points"]) for lvl in body] == [
        ("Bronze", 0),
        ("Silver", 100),
        ("Gold", 500),
    ]
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/levels").status_code == 401
