"""Segments in the admin, for the three personas: staff of label A (admins and managers edit; support and
integration engineers read), staff of label B (A's segment is exactly 404), an outsider (403)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import Segment, SegmentMember
from tests.crm.segments.conftest import country
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db

LIST, ADD, AUDIENCE = "admin:crm_segment_changelist", "admin:crm_segment_add", "admin:crm_segment_audience"


def _form(label, **overrides) -> dict:
    tree = {"all": [{"field": "core_account_status", "op": "eq", "value": "ACTIVE"}, country("MT")]}
    return {"label": label.pk, "name": "Maltese", "description": "", "kind": "conditions", "status": "active",
            "conditions": json.dumps(tree)} | overrides  # fmt: skip


def _pages(segment) -> list[str]:
    return [
        reverse("admin:crm_segment_change", args=[segment.pk]),
        reverse("admin:crm_segment_members", args=[segment.pk]),
        reverse("admin:crm_segment_members_export", args=[segment.pk]),
        reverse("admin:crm_segment_delete", args=[segment.pk]),
    ]


def _audience(client, body) -> tuple[int, dict]:
    response = client.post(reverse(AUDIENCE), json.dumps(body), content_type="application/json")
    return response.status_code, response.json() if response["Content-Type"] == "application/json" else {}


def test_the_add_page_starts_with_the_active_accounts_condition(tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get(reverse(ADD)).content.decode()
    assert 'name="conditions"' in page
    assert "core_account_status" in page
    assert "ACTIVE" in page


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER])
def test_admins_and_managers_create_and_change_segments(tenant_a, staff_with_role, staff_client, role):
    client = staff_client(staff_with_role(tenant_a.label, role))
    assert client.post(reverse(ADD), _form(tenant_a.label)).status_code == 302
    segment = Segment.objects.get(name="Maltese")
    user = segment.created_by
    assert (segment.label, segment.kind, segment.updated_by) == (tenant_a.label, "conditions", user)
    assert user.label_roles.get().role == role
    assert segment.conditions["all"][1] == country("MT")
    change = reverse("admin:crm_segment_change", args=[segment.pk])
    response = client.post(change, _form(tenant_a.label, name="Maltese players", conditions=json.dumps({"all": []})))
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.conditions) == ("Maltese players", {"all": []})


def test_a_bad_tree_is_shown_on_the_form_naming_its_path_and_nothing_is_saved(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    bad = json.dumps({"all": [country("MT"), {"field": "nope", "op": "eq", "value": 1}]})
    response = client.post(reverse(ADD), _form(tenant_a.label, conditions=bad))
    assert response.status_code == 200
    assert "conditions.all[1]" in response.content.decode()
    response = client.post(reverse(ADD), _form(tenant_a.label, conditions="{not json"))
    assert response.status_code == 200
    assert not Segment.objects.exists()


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.INTEGRATION_ENGINEER])
def test_support_and_integration_engineers_only_read(tenant_a, staff_with_role, staff_client, make_segment, role):
    segment = make_segment(tenant_a)
    client = staff_client(staff_with_role(tenant_a.label, role))
    assert client.get(reverse(LIST)).status_code == 200
    for url in _pages(segment)[:3]:
        assert client.get(url).status_code == 200, url
    assert client.post(reverse(ADD), _form(tenant_a.label, name="New")).status_code == 403
    change = reverse("admin:crm_segment_change", args=[segment.pk])
    assert client.post(change, _form(tenant_a.label, name="Renamed")).status_code == 403
    assert client.post(reverse("admin:crm_segment_delete", args=[segment.pk]), {"post": "yes"}).status_code == 403
    segment.refresh_from_db()
    assert segment.name == "Malta"
    status, body = _audience(client, {"conditions": {"all": [country("MT")]}})  # counting changes nothing
    assert (status, body["count"]) == (200, 1)


def test_staff_of_another_label_get_404_and_outsiders_403(tenant_a, tenant_b, outsider, staff_client, make_segment):
    segment = make_segment(tenant_a)
    other = staff_client(tenant_b.admin)
    assert f"/admin/crm/segment/{segment.pk}/" not in other.get(reverse(LIST)).content.decode()
    assert "Malta" not in other.get(reverse(LIST)).content.decode()
    for url in _pages(segment):
        assert other.get(url).status_code == 404, url
    assert _audience(other, {"conditions": {"all": []}, "segment": segment.pk})[0] == 404
    assert _audience(other, {"conditions": {"all": []}, "label": tenant_a.label.pk})[0] == 404
    assert other.post(reverse("admin:crm_segment_delete", args=[segment.pk]), {"post": "yes"}).status_code == 404
    assert Segment.objects.filter(pk=segment.pk).exists()
    stranger = staff_client(outsider)
    for url in [reverse(LIST), *_pages(segment)]:
        assert stranger.get(url).status_code == 403, url
    assert _audience(stranger, {"conditions": {"all": []}})[0] == 403
    assert staff_client(None).get(reverse(LIST)).status_code == 302  # to the login page


def test_the_list_shows_kind_members_status_and_uses_of_the_labels_segments_only(
    tenant_a, tenant_b, staff_client, make_segment
):
    segment = make_segment(tenant_a, name="Malta")
    make_segment(tenant_a, name="Uses Malta", conditions={"all": [{"segment": segment.pk}]})
    make_segment(tenant_b, name="B only")
    SegmentMember.objects.create(segment=segment, player=tenant_a.player, entered_at="2026-01-01T00:00:00Z")
    page = staff_client(tenant_a.admin).get(reverse(LIST)).content.decode()
    assert "Malta" in page
    assert "Uses Malta" in page
    assert "B only" not in page
    assert "Segment “Uses Malta”" in page
    assert "Conditions (user state and behaviour)" in page


def test_the_audience_endpoint_counts_a_draft_tree_or_names_its_errors(tenant_a, tenant_b, staff_client):
    PlayerFactory(brand=tenant_a.brand, user_country="DE")
    PlayerFactory(brand=tenant_b.brand, user_country="MT")
    client = staff_client(tenant_a.admin)
    status, body = _audience(client, {"conditions": {"all": [country("MT")]}})
    assert (status, body["count"]) == (200, 1)
    assert isinstance(body["description"], str)
    assert body["description"]
    assert _audience(client, {"conditions": {"any": []}})[1]["count"] == 0
    status, body = _audience(client, {"conditions": {"all": [{"field": "nope", "op": "eq", "value": 1}]}})
    assert status == 400
    assert any(path.startswith("conditions.all[0]") for path in body["errors"]), body
    assert _audience(client, {"tree": {}}) == (400, {"errors": {"conditions": ["This field is required."]}})
    response = client.post(reverse(AUDIENCE), "not json", content_type="application/json")
    assert response.status_code == 400
    assert "conditions" in response.json()["errors"]
    assert client.get(reverse(AUDIENCE)).status_code == 405


def test_members_page_and_export_list_the_members_now_with_formulas_escaped(tenant_a, staff_client, make_segment):
    segment = make_segment(tenant_a)
    PlayerFactory(brand=tenant_a.brand, user_ext_id="=cmd|' /C calc'!A0", core_username="@SUM(1+1)")
    PlayerFactory(brand=tenant_a.brand, user_country="DE", user_ext_id="german")
    client = staff_client(tenant_a.admin)
    page = client.get(reverse("admin:crm_segment_members", args=[segment.pk])).content.decode()
    assert "shared-player" in page
    assert "german" not in page
    response = client.get(reverse("admin:crm_segment_members_export", args=[segment.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["user_ext_id"] for r in rows] == ["shared-player", "'=cmd|' /C calc'!A0"]
    assert rows[1]["core_username"] == "'@SUM(1+1)"


def test_deleting_a_segment_in_use_is_refused_naming_the_users(tenant_a, staff_client, make_segment):
    segment = make_segment(tenant_a, name="Malta")
    make_segment(tenant_a, name="Uses Malta", conditions={"all": [{"segment": segment.pk}]})
    client = staff_client(tenant_a.admin)
    url = reverse("admin:crm_segment_delete", args=[segment.pk])
    page = client.get(url).content.decode()
    assert "used by Segment “Uses Malta”" in page
    client.post(url, {"post": "yes"})
    assert Segment.objects.filter(pk=segment.pk).exists()
    unused = make_segment(tenant_a, name="Unused")
    assert client.post(reverse("admin:crm_segment_delete", args=[unused.pk]), {"post": "yes"}).status_code == 302
    assert not Segment.objects.filter(pk=unused.pk).exists()


def test_the_change_page_shows_the_count_the_words_and_the_users(tenant_a, staff_client, make_segment):
    segment = make_segment(tenant_a, name="Malta")
    make_segment(tenant_a, name="Uses Malta", conditions={"all": [{"segment": segment.pk}]})
    page = staff_client(tenant_a.admin).get(reverse("admin:crm_segment_change", args=[segment.pk])).content.decode()
    assert 'data-testid="segment-count">1<' in page
    assert 'data-testid="segment-used-by"' in page
    assert "Uses Malta" in page
