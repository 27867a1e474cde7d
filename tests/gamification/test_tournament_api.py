"""The tournament API: instances, detail with prizes, leaderboard with a player's rank and neighbours, a player's
tournaments and registration; every endpoint isolated by label."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import T0, instance_make, players_make, scores_set, tournament_make

pytestmark = pytest.mark.django_db
PLAYER = "/api/v1/players/shared-brand/shared-player"


def _client(tenant) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant.raw_key}")
    return client


def _board(tenant, players: int = 8):
    """A running instance where player n has score n (so the last one leads)."""
    instance = instance_make(tournament_make(tenant.label, prizes=[(1, 3, 10)]), status="started")
    people = players_make(tenant, players)
    scores_set(instance, people)
    return instance, people


def test_list_filters_by_status_and_shows_only_the_keys_label(tenant_a, tenant_b, django_assert_num_queries):
    t = tournament_make(tenant_a.label, prizes=[(1, 1, 50), (2, 5, 10)])
    running = instance_make(t, status="started")
    instance_make(t, status="finished", starts_at=T0.replace(day=1))
    instance_make(tournament_make(tenant_b.label), status="started")
    client = _client(tenant_a)
    with django_assert_num_queries(4):  # key, label, instances, prizes
        body = client.get("/api/v1/tournaments").json()
    assert len(body) == 2
    started = client.get("/api/v1/tournaments?status=started").json()
    assert [row["id"] for row in started] == [running.pk]
    assert [(p["place_from"], p["place_to"], p["points"]) for p in started[0]["prizes"]] == [(1, 1, 50), (2, 5, 10)]
    bad = client.get("/api/v1/tournaments?status=nope")
    assert bad.status_code == 400
    assert "status" in bad.json()["errors"]


def test_another_labels_key_gets_404_everywhere(tenant_a, tenant_b):
    instance, _ = _board(tenant_a)
    client = _client(tenant_b)
    assert client.get(f"/api/v1/tournaments/{instance.pk}").status_code == 404
    assert client.get(f"/api/v1/tournaments/{instance.pk}/leaderboard").status_code == 404
    assert client.post(f"{PLAYER}/tournaments/{instance.pk}/registrations").status_code == 404
    assert client.get("/api/v1/tournaments").json() == []
    assert client.get(f"{PLAYER}/tournaments").json() == []
    assert _client(tenant_a).get(f"/api/v1/tournaments/{instance.pk}").status_code == 200


def test_staff_see_their_labels_tournaments_only(tenant_a, tenant_b, outsider, api_client, staff_with_role):
    instance, _ = _board(tenant_a)
    url = f"/api/v1/tournaments/{instance.pk}"
    api_client.force_authenticate(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert api_client.get(url).status_code == 200
    assert api_client.post(f"{PLAYER}/tournaments/{instance.pk}/registrations").status_code == 201  # may act
    api_client.force_authenticate(tenant_b.admin)
    assert api_client.get(url).status_code == 404
    api_client.force_authenticate(outsider)
    assert api_client.get(url).status_code == 403  # a staff user with no label: refused before any lookup
    assert api_client.get("/api/v1/tournaments").status_code == 403


def test_leaderboard_has_the_top_and_a_players_rank_and_neighbours(tenant_a):
    instance, _ = _board(tenant_a)
    client = _client(tenant_a)
    body = client.get(f"/api/v1/tournaments/{instance.pk}/leaderboard?limit=3").json()
    assert [(row["place"], row["user_ext_id"]) for row in body["top"]] == [(1, "p7"), (2, "p6"), (3, "p5")]
    assert body["me"] is None
    mine = client.get(f"/api/v1/tournaments/{instance.pk}/leaderboard?limit=1&ext_brand_id=shared-brand&user_ext_id=p3")
    body = mine.json()
    assert (body["me"]["place"], body["me"]["score"]) == (5, 4.0)
    assert [row["user_ext_id"] for row in body["around"]] == ["p5", "p4", "p3", "p2", "p1"]
    assert len(body["top"]) == 1
    bad = client.get(f"/api/v1/tournaments/{instance.pk}/leaderboard?limit=x&user_ext_id=p3")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) & {"limit", "user_ext_id"}


def test_registration_answers_201_202_200_and_422_with_codes(tenant_a):
    client = _client(tenant_a)
    opt_in = instance_make(tournament_make(tenant_a.label), status="registration")
    manual = instance_make(tournament_make(tenant_a.label, name="VIP", registration_type="manual"))
    buy_in = instance_make(
        tournament_make(
            tenant_a.label, name="High roller", registration_type="buy_in", buy_in_amount=500, buy_in_currency="points"
        )
    )
    closed = instance_make(tournament_make(tenant_a.label, name="Over"), status="finished")
    url = f"{PLAYER}/tournaments/{{}}/registrations"
    first = client.post(url.format(opt_in.pk))
    assert first.status_code == 201
    assert first.json()["tournament"]["participation"]["status"] == "registered"
    assert client.post(url.format(opt_in.pk)).status_code == 200
    assert client.post(url.format(manual.pk)).status_code == 202
    poor = client.post(url.format(buy_in.pk))
    assert (poor.status_code, poor.json()["code"]) == (422, "insufficient_balance")
    wallet_adjust(player=tenant_a.player, currency="points", amount=500, source="api", key="fund")
    assert client.post(url.format(buy_in.pk)).status_code == 201
    shut = client.post(url.format(closed.pk))
    assert (shut.status_code, shut.json()["code"]) == (422, "registration_closed")
    assert client.post(url.format(999999)).status_code == 404


def test_a_players_tournaments_show_participation_rank_and_can_register(tenant_a):
    instance, people = _board(tenant_a)
    open_one = instance_make(tournament_make(tenant_a.label, name="Open"), status="registration")
    client = _client(tenant_a)
    rows = {row["tournament"]["id"]: row for row in client.get("/api/v1/players/shared-brand/p2/tournaments").json()}
    assert rows[instance.pk]["participation"]["rank"] == 6
    assert rows[instance.pk]["can_register"] is False
    assert rows[open_one.pk]["participation"] is None
    assert rows[open_one.pk]["can_register"] is True
    people[0].ach_gamification_in_control_group = True
    people[0].save()
    assert client.get("/api/v1/players/shared-brand/p0/tournaments").json() == []
