"""The label switcher: narrows the admin to one of the user's labels, and refuses any other label."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Label, Role
from backoffice.scoping import SESSION_LABEL_KEY

pytestmark = pytest.mark.django_db
SWITCH = "admin:backoffice_label_switch"


@pytest.fixture
def both(tenant_a, tenant_b):
    """Admin of A who is also support in B."""
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    return tenant_a.admin


def _brands_page(client) -> str:
    return client.get(reverse("admin:backoffice_brand_changelist")).content.decode()


def test_switching_narrows_every_page_to_one_label(both, tenant_a, tenant_b, staff_client):
    client = staff_client(both)
    page = _brands_page(client)
    assert tenant_a.brand.name in page
    assert tenant_b.brand.name in page
    response = client.post(reverse(SWITCH), {"label": tenant_b.label.pk, "next": "/admin/backoffice/brand/?o=1"})
    assert response.status_code == 302
    assert response.url == reverse("admin:backoffice_brand_changelist")
    assert client.session[SESSION_LABEL_KEY] == tenant_b.label.pk
    page = _brands_page(client)
    assert tenant_b.brand.name in page
    assert tenant_a.brand.name not in page
    # Narrowed to B, where the user is support: A's brand is out of view even by id, B's is read-only.
    assert client.get(reverse("admin:backoffice_brand_change", args=[tenant_a.brand.pk])).status_code == 404
    assert client.get(reverse("admin:backoffice_brand_add")).status_code == 403
    client.post(reverse(SWITCH), {"label": "all"})
    assert SESSION_LABEL_KEY not in client.session
    assert tenant_a.brand.name in _brands_page(client)


def test_the_switcher_lists_the_users_labels_and_marks_the_current_one(both, tenant_a, tenant_b, staff_client):
    Label.objects.create(name="Label C")
    client = staff_client(both)
    client.post(reverse(SWITCH), {"label": tenant_a.label.pk})
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="pitboss-label-select"' in html
    assert "All my labels (2)" in html
    assert f'<option value="{tenant_a.label.pk}" selected>Label A</option>' in html
    assert f'<option value="{tenant_b.label.pk}" >Label B</option>' in html
    assert "Label C" not in html


@pytest.mark.parametrize("value", ["other_label", "999999", "abc", "-1"])
def test_a_label_that_is_not_the_users_is_refused(value, both, tenant_a, staff_client):
    stranger = Label.objects.create(name="Stranger")
    client = staff_client(both)
    client.post(reverse(SWITCH), {"label": tenant_a.label.pk})
    label = stranger.pk if value == "other_label" else value
    response = client.post(reverse(SWITCH), {"label": label})
    assert response.status_code == 400
    assert client.session[SESSION_LABEL_KEY] == tenant_a.label.pk


def test_an_outsider_cannot_switch_to_any_label(tenant_a, outsider, staff_client):
    client = staff_client(outsider)
    assert client.post(reverse(SWITCH), {"label": tenant_a.label.pk}).status_code == 400
    assert SESSION_LABEL_KEY not in client.session
    assert client.get(reverse("admin:backoffice_brand_changelist")).status_code == 403


def test_the_switcher_needs_a_staff_login_and_a_post(tenant_a, staff_client):
    response = staff_client().post(reverse(SWITCH), {"label": tenant_a.label.pk})
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    assert staff_client(tenant_a.admin).get(reverse(SWITCH)).status_code == 405


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/crm/player/?brand__id__exact=3", "/admin/crm/player/"),
        ("/admin/", "/admin/"),
        ("https://evil.example/admin/", "/admin/"),
        ("/nowhere/", "/admin/"),
    ],
)
def test_after_switching_the_user_lands_on_a_safe_list_page(next_url, expected, both, tenant_a, staff_client):
    response = staff_client(both).post(reverse(SWITCH), {"label": tenant_a.label.pk, "next": next_url})
    assert response.url == expected


def test_after_switching_the_user_lands_on_an_object_page_only_if_it_is_in_the_new_label(
    both, tenant_a, tenant_b, staff_client
):
    client = staff_client(both)
    page_a = reverse("admin:backoffice_brand_change", args=[tenant_a.brand.pk]) + "?_changelist_filters=o%3D1"
    page_b = reverse("admin:backoffice_brand_change", args=[tenant_b.brand.pk])
    assert client.post(reverse(SWITCH), {"label": tenant_a.label.pk, "next": page_a}).url == page_a
    assert client.post(reverse(SWITCH), {"label": tenant_a.label.pk, "next": page_b}).url == "/admin/"
    assert client.post(reverse(SWITCH), {"label": "all", "next": page_b}).url == "/admin/"
    missing = reverse("admin:backoffice_brand_change", args=[10**9])
    assert client.post(reverse(SWITCH), {"label": tenant_a.label.pk, "next": missing}).url == "/admin/"


def test_a_single_label_shows_its_name_instead_of_a_switcher(tenant_a, staff_client):
    html = staff_client(tenant_a.admin).get(reverse("admin:backoffice_brand_changelist")).content.decode()
    assert 'id="pitboss-label-select"' not in html
    assert "pitboss-switcher--single" in html
