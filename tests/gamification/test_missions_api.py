"""The missions API: the player's missions, opt-in, claim, refusal codes, and isolation between labels."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from gamification.models import PlayerMission, WalletEntry
from tests.factories import PlayerFactory
from tests.gamification.mission_helpers import bet, feed, mission_make

pytestmark = pytest.mark.django_db
BASE = "/api/v1/players/shared-brand/shared-player/missions"


def test_the_list_shows_state_rewards_and_task_progress(tenant_a, key_client):
    mission = mission_make(tenant_a.label, tasks=[{"target": 3, "name": "Spin 3 times"}], reward_points=25)
    feed(tenant_a.label, [bet()])
    response = key_client.get(BASE)
    assert response.status_code == 200
    [body] = response.json()
    assert (body["id"], body["state"], body["run"], body["rewards"]["points"]) == (mission.pk, "in_progress", 1, 25)
    assert body["tasks"] == [
        {
            "id": mission.tasks.get().pk,
            "name": "Spin 3 times",
            "names": {},
            "event_type": "casino_bet",
            "aggregation": "count",
            "target": 3.0,
            "value": 1.0,
            "done": False,
        }
    ]


def test_the_list_costs_a_fixed_number_of_queries(tenant_a, key_client, django_assert_max_num_queries):
    for _ in range(8):
        mission_make(tenant_a.label, tasks=[{"target": 2}, {"target": 5}])
    feed(tenant_a.label, [bet()])
    key_client.get(BASE)
    with django_assert_max_num_queries(7):  # key, brand, player, missions, tasks, runs (+ wallet for locked)
        assert len(key_client.get(BASE).json()) == 8


def test_opt_in_then_claim(tenant_a, key_client):
    mission = mission_make(tenant_a.label, tasks=[{"target": 1}], requires_opt_in=True, claim_required=True,
                           reward_gems=4)  # fmt: skip
    claim = key_client.post(f"{BASE}/{mission.pk}/claim")
    assert (claim.status_code, claim.json()["code"]) == (422, "not_completed")
    opted = key_client.post(f"{BASE}/{mission.pk}/opt-in")
    assert (opted.status_code, opted.json()["state"], opted.json()["run"]) == (200, "in_progress", 1)
    assert opted.json()["opted_in_at"] is not None
    from django.utils import timezone

    feed(tenant_a.label, [bet(at=timezone.now().isoformat())])
    assert key_client.get(BASE).json()[0]["state"] == "completed"
    first = key_client.post(f"{BASE}/{mission.pk}/claim")
    assert (first.status_code, first.json()["created"], first.json()["run"]["state"]) == (201, True, "claimed")
    again = key_client.post(f"{BASE}/{mission.pk}/claim")
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert list(WalletEntry.objects.values_list("currency", "amount")) == [("gems", 4)]


def test_opt_in_refusals_have_codes(tenant_a, key_client):
    plain = mission_make(tenant_a.label)
    response = key_client.post(f"{BASE}/{plain.pk}/opt-in")
    assert (response.status_code, response.json()["code"]) == (422, "opt_in_not_required")
    draft = mission_make(tenant_a.label, status="draft", requires_opt_in=True)
    assert key_client.post(f"{BASE}/{draft.pk}/opt-in").status_code == 404
    assert key_client.post(f"{BASE}/999999/claim").status_code == 404
    assert not PlayerMission.objects.exists()


def test_missions_are_isolated_by_label(tenant_a, tenant_b, outsider, staff_with_role):
    mission_a = mission_make(tenant_a.label, name="A mission", requires_opt_in=True)
    mission_b = mission_make(tenant_b.label, name="B mission", requires_opt_in=True)
    key_b = APIClient()
    key_b.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_b.raw_key}")
    assert [m["name"] for m in key_b.get(BASE).json()] == ["B mission"]
    assert key_b.post(f"{BASE}/{mission_a.pk}/opt-in").status_code == 404
    assert key_b.post(f"{BASE}/{mission_a.pk}/claim").status_code == 404
    staff_a = APIClient()
    staff_a.force_login(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert [m["name"] for m in staff_a.get(BASE).json()] == ["A mission"]
    assert staff_a.post(f"{BASE}/{mission_a.pk}/opt-in").status_code == 200
    assert staff_a.post(f"{BASE}/{mission_b.pk}/opt-in").status_code == 404
    nobody = APIClient()
    nobody.force_login(outsider)
    assert nobody.get(BASE).status_code == 403
    assert nobody.post(f"{BASE}/{mission_a.pk}/opt-in").status_code == 403
    PlayerFactory(brand=tenant_b.brand, label=tenant_b.label, user_ext_id="only-in-b")
    key_a = APIClient()
    key_a.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    assert key_a.get("/api/v1/players/shared-brand/only-in-b/missions").status_code == 404
    assert list(PlayerMission.objects.values_list("mission_id", flat=True)) == [mission_a.pk]
    assert APIClient().get(BASE).status_code == 401
