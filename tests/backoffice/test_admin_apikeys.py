"""API keys in the admin: shown once at creation, stored as a digest, revoked for good, never edited or deleted."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.models import ApiKey, Role
from backoffice.models.apikeys import key_digest

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"pb_[0-9a-f]{8}_[A-Za-z0-9_-]{43}")


def _api_status(raw: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client.get("/api/v1/brands").status_code


def _create(client, label, name="Platform events"):
    response = client.post(reverse("admin:backoffice_apikey_add"), {"name": name, "label": label.pk}, follow=True)
    assert response.status_code == 200
    return response


@pytest.mark.parametrize("role", [Role.ADMIN, Role.INTEGRATION_ENGINEER])
def test_creating_a_key_shows_it_once_and_stores_only_its_digest(role, tenant_a, staff_with_role, staff_client):
    user = staff_with_role(tenant_a.label, role)
    client = staff_client(user)
    response = _create(client, tenant_a.label)
    messages = [str(m) for m in response.context["messages"]]
    shown = [m for m in messages if RAW_KEY.search(m)]
    assert len(shown) == 1
    assert "Copy it now: it won't be shown again" in shown[0]
    raw = RAW_KEY.search(shown[0]).group()
    key = ApiKey.objects.get(name="Platform events")
    assert key.digest == key_digest(raw)
    assert (key.label, key.created_by, key.prefix) == (tenant_a.label, user, raw.split("_")[1])
    assert _api_status(raw) == 200
    # Shown once: neither the list, the key's page nor the next message carry it again.
    for url in (
        reverse("admin:backoffice_apikey_changelist"),
        reverse("admin:backoffice_apikey_change", args=[key.pk]),
    ):
        page = client.get(url)
        assert raw not in page.content.decode()
        assert key.digest not in page.content.decode()
        assert not [m for m in get_messages(page.wsgi_request) if raw in str(m)]


def test_the_list_shows_prefix_label_author_dates_and_status(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    _create(client, tenant_a.label, name="Fresh key")
    tenant_a.api_key.revoked_at = tenant_a.api_key.created_at
    tenant_a.api_key.save()
    html = client.get(reverse("admin:backoffice_apikey_changelist")).content.decode()
    fresh = ApiKey.objects.get(name="Fresh key")
    for text in (f"pb_{fresh.prefix}_", f"pb_{tenant_a.api_key.prefix}_", "Label A", "admin_a", "Active", "Revoked"):
        assert text in html, text
    active = client.get(reverse("admin:backoffice_apikey_changelist"), {"status": "active"}).content.decode()
    assert "Fresh key" in active
    assert tenant_a.api_key.name not in active


def test_revoking_a_key_makes_the_api_refuse_it(tenant_a, staff_with_role, staff_client):
    assert _api_status(tenant_a.raw_key) == 200
    client = staff_client(staff_with_role(tenant_a.label, Role.INTEGRATION_ENGINEER))
    url = reverse("admin:backoffice_apikey_revoke", args=[tenant_a.api_key.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    tenant_a.api_key.refresh_from_db()
    assert tenant_a.api_key.is_active  # GET only asks
    assert client.post(url).status_code == 302
    tenant_a.api_key.refresh_from_db()
    assert not tenant_a.api_key.is_active
    assert _api_status(tenant_a.raw_key) == 401
    # Revoked keys stay listed, read-only, and cannot be deleted.
    assert tenant_a.api_key.name in client.get(reverse("admin:backoffice_apikey_changelist")).content.decode()
    page = client.get(reverse("admin:backoffice_apikey_change", args=[tenant_a.api_key.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client.post(reverse("admin:backoffice_apikey_delete", args=[tenant_a.api_key.pk])).status_code == 403


def test_the_bulk_revoke_action_revokes_only_keys_the_user_manages(tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)  # B's keys: visible, not managed
    client = staff_client(tenant_a.admin)
    response = client.post(
        reverse("admin:backoffice_apikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [tenant_a.api_key.pk, tenant_b.api_key.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert "Revoked 1 key(s)." in messages
    assert any("1 key(s) left as they were" in m for m in messages)
    assert _api_status(tenant_a.raw_key) == 401
    assert _api_status(tenant_b.raw_key) == 200


def test_keys_cannot_be_edited_beyond_their_name(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    key = tenant_a.api_key
    before = (key.prefix, key.digest, key.label_id, key.created_by_id)
    response = client.post(
        reverse("admin:backoffice_apikey_change", args=[key.pk]),
        {"name": "Renamed", "prefix": "deadbeef", "digest": "0" * 64, "label": key.label_id},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.name == "Renamed"
    assert (key.prefix, key.digest, key.label_id, key.created_by_id) == before
    assert _api_status(tenant_a.raw_key) == 200


def test_a_key_cannot_be_created_in_another_label(tenant_a, tenant_b, staff_client):
    response = staff_client(tenant_a.admin).post(
        reverse("admin:backoffice_apikey_add"), {"name": "Planted", "label": tenant_b.label.pk}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.filter(name="Planted").exists()
