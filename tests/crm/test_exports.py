"""Exports read through the same scope as the admin and the API."""

from __future__ import annotations

import csv
import io

import pytest

from backoffice.scoping import actor_for_api_key, actor_for_label, actor_for_user
from crm.exports import PLAYER_EXPORT_COLUMNS, players_csv
from crm.models import Player
from crm.services.players import player_upsert

pytestmark = pytest.mark.django_db


def _rows(lines) -> list[dict]:
    return list(csv.DictReader(io.StringIO("".join(lines))))


def test_export_holds_only_the_actors_players_and_no_pii(tenant_a, tenant_b, outsider):
    player_upsert(brand=tenant_a.brand, user_ext_id="x", data={"user_email": "x@y.co", "markers": ["vip", "new"]})
    rows = _rows(players_csv(actor_for_user(tenant_a.admin)))
    assert sorted(r["user_ext_id"] for r in rows) == ["shared-player", "x"]
    assert {r["label"] for r in rows} == {tenant_a.label.name}
    assert next(r for r in rows if r["user_ext_id"] == "x")["markers"] == "new vip"
    assert "user_email" not in PLAYER_EXPORT_COLUMNS
    assert "x@y.co" not in "".join(players_csv(actor_for_user(tenant_a.admin)))
    assert [r["label"] for r in _rows(players_csv(actor_for_api_key(tenant_b.api_key)))] == [tenant_b.label.name]
    assert [r["label"] for r in _rows(players_csv(actor_for_label(tenant_b.label.pk)))] == [tenant_b.label.name]
    assert _rows(players_csv(actor_for_user(outsider))) == []


def test_a_wider_queryset_does_not_widen_the_export(tenant_a, tenant_b):
    lines = players_csv(actor_for_user(tenant_a.admin), within=Player.objects.all())
    assert [r["label"] for r in _rows(lines)] == [tenant_a.label.name]


def test_the_admin_exports_the_filtered_list(tenant_a, tenant_b, client, outsider):
    player_upsert(brand=tenant_a.brand, user_ext_id="de", data={"user_country": "DE"})
    client.force_login(tenant_a.admin)
    page = client.get("/admin/crm/player/", {"country": "DE"})
    assert b"/admin/crm/player/export-csv/?country=DE" in page.content
    response = client.get("/admin/crm/player/export-csv/", {"country": "DE"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert [r["user_ext_id"] for r in _rows(b"".join(response.streaming_content).decode())] == ["de"]
    assert len(_rows(b"".join(client.get("/admin/crm/player/export-csv/").streaming_content).decode())) == 2
    client.force_login(tenant_b.admin)
    rows = _rows(b"".join(client.get("/admin/crm/player/export-csv/").streaming_content).decode())
    assert [r["label"] for r in rows] == [tenant_b.label.name]
    client.force_login(outsider)
    assert client.get("/admin/crm/player/export-csv/").status_code == 403
