"""The dashboard: honest counts of what is in the user's view, from a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.admin.dashboard import dashboard_data
from backoffice.models import Role
from backoffice.scoping import SESSION_LABEL_KEY, actor_for_user
from backoffice.services.apikeys import api_key_create, api_key_revoke
from tests.factories import BrandFactory, PlayerFactory

pytestmark = pytest.mark.django_db


def _kpis(data) -> dict[str, str]:
    return {kpi["title"]: kpi["value"] for kpi in data["kpis"]}


def test_counts_are_those_of_the_viewers_labels(tenant_a, tenant_b, staff_with_role):
    second = BrandFactory(label=tenant_a.label, name="Second brand")
    now = timezone.now()
    for i in range(5):
        PlayerFactory(brand=second, core_registration_date=now - dt.timedelta(days=i * 3))  # 3 within 7 days
    PlayerFactory.create_batch(7, brand=tenant_b.brand)
    staff_with_role(tenant_a.label, Role.SUPPORT)
    api_key_revoke(api_key=api_key_create(label=tenant_a.label, name="old")[0])
    data = dashboard_data(actor_for_user(tenant_a.admin))
    assert _kpis(data) == {
        "Players": "6",
        "New players, last 7 days": "3",
        "Brands": "2",
        "Staff roles": "2",
        "Active API keys": "1",
    }
    [label_row] = data["labels_table"]["rows"]
    assert (label_row[1], label_row[2], label_row[4], label_row[5]) == ("Admin", "2", "2", "1")
    assert ">6<" in label_row[3]  # a link to the label's players
    brands = {row[1]: row[3:] for row in data["brands_table"]["rows"]}
    assert set(brands) == {"shared-brand", second.ext_brand_id}
    assert ">5<" in brands[second.ext_brand_id][0]
    assert brands[second.ext_brand_id][1] == "3"


def test_the_dashboard_links_to_filtered_player_lists(tenant_a, staff_client):
    html = staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
    players = reverse("admin:crm_player_changelist")
    assert f"{players}?brand__id__exact={tenant_a.brand.pk}" in html
    assert f"{players}?label__id__exact={tenant_a.label.pk}" in html
    assert reverse("admin:backoffice_label_change", args=[tenant_a.label.pk]) in html


def test_the_switcher_narrows_the_dashboard(tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.MANAGER)
    client = staff_client(tenant_a.admin)
    html = client.get(reverse("admin:index")).content.decode()
    assert tenant_b.brand.name in html
    assert "Manager" in html
    session = client.session
    session[SESSION_LABEL_KEY] = tenant_a.label.pk
    session.save()
    html = client.get(reverse("admin:index")).content.decode()
    assert tenant_a.brand.name in html
    assert tenant_b.brand.name not in html


def test_the_dashboard_costs_the_same_queries_whatever_the_data(tenant_a, staff_client, django_assert_num_queries):
    # session, user, the user's roles, the switcher's labels, the sidebar's pending credit approvals; then labels,
    # brands with counts, staff, keys
    client = staff_client(tenant_a.admin)
    with django_assert_num_queries(9):
        client.get(reverse("admin:index"))
    for i in range(4):
        PlayerFactory.create_batch(5, brand=BrandFactory(label=tenant_a.label, name=f"Extra {i}"))
        api_key_create(label=tenant_a.label, name=f"key {i}")
    with django_assert_num_queries(9):
        response = client.get(reverse("admin:index"))
    assert "Extra 3" in response.content.decode()
