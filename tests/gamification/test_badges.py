"""Badges: stages awarded in order, once per key, refusals, facts, visibility, and the partner API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.errors import DomainError
from backoffice.models import Role
from crm.models import Event, Player
from gamification.models import Badge, BadgeAward, BadgeStage
from gamification.selectors import badges_for_player
from gamification.services.badges import badge_award
from tests.gamification.mission_helpers import bet, feed, mission_make

pytestmark = pytest.mark.django_db
BASE = "/api/v1/players/shared-brand/shared-player/badges"


def _badge(label, stages=(), **fields) -> Badge:
    badge = Badge.objects.create(label=label, name=fields.pop("name", "Spinner"), **fields)
    for number, name in enumerate(stages, start=1):
        BadgeStage.objects.create(badge=badge, number=number, name=name)
    return badge


def _refused(call) -> str:
    with pytest.raises(DomainError) as exc:
        call()
    return exc.value.code


def test_each_award_raises_the_player_one_stage_until_the_last(tenant_a):
    badge = _badge(tenant_a.label, ["Bronze", "Silver"])
    first = badge_award(player=tenant_a.player, badge=badge, source="manual", key="k1")
    again = badge_award(player=tenant_a.player, badge=badge, source="manual", key="k1")
    second = badge_award(player=tenant_a.player, badge=badge, source="manual", key="k2")
    assert (first.award.stage, again.created, again.award.pk, second.award.stage) == (1, False, first.award.pk, 2)
    assert _refused(lambda: badge_award(player=tenant_a.player, badge=badge, source="manual", key="k3")) == "max_stage"
    facts = Event.objects.filter(player=tenant_a.player, type="badge_earned").order_by("id")
    assert [(f.payload["stage"], f.payload.get("stage_name")) for f in facts] == [(1, "Bronze"), (2, "Silver")]


def test_a_badge_without_stages_has_one_and_a_given_stage_is_awarded_once(tenant_a):
    single = _badge(tenant_a.label, name="Single")
    assert badge_award(player=tenant_a.player, badge=single, source="api", key="s1").award.stage == 1
    assert _refused(lambda: badge_award(player=tenant_a.player, badge=single, source="api", key="s2")) == "max_stage"
    staged = _badge(tenant_a.label, ["A", "B", "C"], name="Staged")
    assert badge_award(player=tenant_a.player, badge=staged, source="api", key="t1", stage=3).award.stage == 3
    assert (
        _refused(lambda: badge_award(player=tenant_a.player, badge=staged, source="api", key="t2", stage=3))
        == "already_awarded"
    )
    assert (
        _refused(lambda: badge_award(player=tenant_a.player, badge=staged, source="api", key="t3", stage=4))
        == "max_stage"
    )


def test_inactive_badges_and_control_group_players_get_no_award(tenant_a):
    inactive = _badge(tenant_a.label, is_active=False)
    assert _refused(lambda: badge_award(player=tenant_a.player, badge=inactive, source="api", key="a")) == "inactive"
    active = _badge(tenant_a.label, name="On")
    Player.objects.filter(pk=tenant_a.player.pk).update(ach_gamification_in_control_group=True)
    tenant_a.player.refresh_from_db()
    assert _refused(lambda: badge_award(player=tenant_a.player, badge=active, source="api", key="b")) == "control_group"
    assert not BadgeAward.objects.exists()
    assert badges_for_player(player=tenant_a.player) == []


def test_hidden_badges_show_only_once_earned(tenant_a):
    greyed = _badge(tenant_a.label, ["Bronze", "Silver"], name="Greyed", position=1)
    hidden = _badge(tenant_a.label, name="Secret", visibility="hidden", position=2)
    views = badges_for_player(player=tenant_a.player)
    assert [(v.id, v.earned) for v in views] == [(greyed.pk, False)]
    badge_award(player=tenant_a.player, badge=hidden, source="manual", key="h")
    badge_award(player=tenant_a.player, badge=greyed, source="manual", key="g")
    views = badges_for_player(player=tenant_a.player)
    assert [(v.id, v.earned, v.stage, v.stage_count) for v in views] == [
        (greyed.pk, True, 1, 2),
        (hidden.pk, True, 1, 1),
    ]
    assert [s["earned"] for s in views[0].stages] == [True, False]


def test_a_mission_awards_its_badge_once(tenant_a):
    badge = _badge(tenant_a.label, ["Bronze", "Silver"])
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], reward_badge=badge, type="recurring_on_completion")
    feed(tenant_a.label, [bet()])
    feed(tenant_a.label, [bet()])
    feed(tenant_a.label, [bet()])  # the third run completes, the badge has no stage left: the run still completes
    assert list(BadgeAward.objects.order_by("stage").values_list("stage", "source")) == [(1, "mission"), (2, "mission")]
    assert mission.player_missions.filter(state="claimed").count() == 3


def _post(client, badge, body=None, base=BASE, **headers):
    return client.post(f"{base}/{badge.pk}/awards", body or {}, format="json", **headers)


def test_the_api_awards_with_an_idempotency_key(tenant_a, key_client):
    badge = _badge(tenant_a.label, ["Bronze", "Silver"])
    other = _badge(tenant_a.label, name="Other")
    created = _post(key_client, badge, {"idempotency_key": "award-1", "reason": "VIP"})
    assert created.status_code == 201
    assert (created.json()["award"]["stage"], created.json()["award"]["source"]) == (1, "api")
    replay = _post(key_client, badge, HTTP_IDEMPOTENCY_KEY="award-1")
    assert (replay.status_code, replay.json()["created"]) == (200, False)
    assert _post(key_client, other, {"idempotency_key": "award-1"}).status_code == 409
    listed = key_client.get(BASE).json()
    assert [(b["id"], b["stage"], b["earned"]) for b in listed] == [(other.pk, None, False), (badge.pk, 1, True)]


def test_the_api_names_bad_fields_and_refusals(tenant_a, key_client):
    badge = _badge(tenant_a.label)
    missing = _post(key_client, badge)
    assert (missing.status_code, list(missing.json()["errors"])) == (400, ["idempotency_key"])
    bad_stage = _post(key_client, badge, {"idempotency_key": "x", "stage": 0})
    assert (bad_stage.status_code, list(bad_stage.json()["errors"])) == (400, ["stage"])
    _post(key_client, badge, {"idempotency_key": "y"})
    refused = _post(key_client, badge, {"idempotency_key": "z"})
    assert (refused.status_code, refused.json()["code"]) == (422, "max_stage")
    assert BadgeAward.objects.count() == 1


def test_badges_are_isolated_by_label(tenant_a, tenant_b, outsider, staff_with_role):
    badge_b = _badge(tenant_b.label, name="B badge")
    badge_a = _badge(tenant_a.label, name="A badge")
    client_a = APIClient()
    client_a.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    assert _post(client_a, badge_b, {"idempotency_key": "k"}).status_code == 404
    assert [b["name"] for b in client_a.get(BASE).json()] == ["A badge"]
    staff_b = APIClient()
    staff_b.force_login(tenant_b.admin)
    assert _post(staff_b, badge_a, {"idempotency_key": "k"}).status_code == 404  # B's player, A's badge id
    assert [b["name"] for b in staff_b.get(BASE).json()] == ["B badge"]
    nobody = APIClient()
    nobody.force_login(outsider)
    assert nobody.get(BASE).status_code == 403
    assert _post(nobody, badge_a, {"idempotency_key": "o"}).status_code == 403
    support = APIClient()
    support.force_login(staff_with_role(tenant_a.label, Role.SUPPORT))
    response = _post(support, badge_a, {"idempotency_key": "s"})
    assert response.status_code == 201  # support may act for players
    assert BadgeAward.objects.get().created_by is not None
    assert not BadgeAward.objects.filter(badge=badge_b).exists()
