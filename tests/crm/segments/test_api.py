"""The partner API of segments: list and read, members now, and the live membership check; each key and each staff
user sees only its labels' segments (another label's id is exactly 404), an outsider nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from crm.models import Player
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db


def key(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
    return client


def membership(segment, ext_brand_id="shared-brand", user_ext_id="shared-player") -> str:
    return f"/api/v1/segments/{segment.pk}/members/{ext_brand_id}/{user_ext_id}"


def test_list_and_read_only_the_labels_segments(tenant_a, tenant_b, make_segment):
    mine = make_segment(tenant_a, name="Malta", description="Maltese players")
    make_segment(tenant_b, name="B's")
    body = key(tenant_a).get("/api/v1/segments").json()
    assert [s["name"] for s in body["results"]] == ["Malta"]
    detail = key(tenant_a).get(f"/api/v1/segments/{mine.pk}").json()
    assert {k: detail[k] for k in ("id", "name", "description", "kind", "status", "conditions")} == {
        "id": mine.pk,
        "name": "Malta",
        "description": "Maltese players",
        "kind": "conditions",
        "status": "active",
        "conditions": mine.conditions,
    }
    assert isinstance(detail["in_words"], str)
    assert detail["in_words"]


def test_another_labels_segment_is_404_everywhere(tenant_a, tenant_b, make_segment):
    theirs = make_segment(tenant_b, name="B's")
    client = key(tenant_a)
    for url in (f"/api/v1/segments/{theirs.pk}", f"/api/v1/segments/{theirs.pk}/members", membership(theirs)):
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"code": "not_found", "message": "No such segment.", "errors": {}}


def test_the_membership_check_is_live(tenant_a, make_segment):
    segment = make_segment(tenant_a)  # Malta
    client = key(tenant_a)
    assert client.get(membership(segment)).json() == {
        "segment_id": segment.pk,
        "ext_brand_id": "shared-brand",
        "user_ext_id": "shared-player",
        "member": True,
    }
    Player.objects.filter(pk=tenant_a.player.pk).update(user_country="DE")  # no event: answered live anyway
    assert client.get(membership(segment)).json()["member"] is False
    response = client.get(membership(segment, user_ext_id="nobody"))
    assert (response.status_code, response.json()["message"]) == (404, "No such player.")


def test_members_are_listed_now_and_paginated(tenant_a, make_segment):
    segment = make_segment(tenant_a)
    PlayerFactory(brand=tenant_a.brand, user_country="DE")
    extra = [PlayerFactory(brand=tenant_a.brand, user_ext_id=f"m{i}") for i in range(3)]
    client = key(tenant_a)
    first = client.get(f"/api/v1/segments/{segment.pk}/members", {"limit": 2}).json()
    assert first["results"] == [
        {"ext_brand_id": "shared-brand", "user_ext_id": "shared-player"},
        {"ext_brand_id": "shared-brand", "user_ext_id": extra[0].user_ext_id},
    ]
    second = client.get(first["next"]).json()
    assert [m["user_ext_id"] for m in second["results"]] == ["m1", "m2"]
    assert second["next"] is None


def test_staff_sessions_see_their_labels_and_outsiders_nothing(tenant_a, tenant_b, outsider, make_segment):
    segment = make_segment(tenant_a)
    staff = APIClient()
    staff.force_login(tenant_a.admin)
    assert staff.get(membership(segment)).json()["member"] is True
    other = APIClient()
    other.force_login(tenant_b.admin)
    assert other.get(f"/api/v1/segments/{segment.pk}").status_code == 404
    stranger = APIClient()
    stranger.force_login(outsider)
    assert stranger.get("/api/v1/segments").status_code == 403
    assert stranger.get(f"/api/v1/segments/{segment.pk}").status_code == 403
    assert APIClient().get("/api/v1/segments").status_code == 401
