"""Usage analytics in the admin: customer accounts with their users and usage, apps mapped to brands, usage users
with attributes, devices (tokens masked) and sessions; the three personas, and another label's ids are 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from crm.models import CustomerAccount, UsageApp, UsageUser
from tests.crm.usage_helpers import usage_world
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def worlds(tenant_a, tenant_b):
    return usage_world(tenant_a), usage_world(tenant_b, name="B's Northwind")


PAGES = ["customeraccount", "usageuser", "usageapp"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.SUPPORT])
def test_every_role_of_the_label_reads_its_pages(worlds, tenant_a, staff_with_role, staff_client, role):
    (account, user), _ = worlds
    client = staff_client(staff_with_role(tenant_a.label, role))
    for name in PAGES:
        assert client.get(reverse(f"admin:crm_{name}_changelist")).status_code == 200
    page = client.get(reverse("admin:crm_customeraccount_change", args=[account.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Northwind" in html
    assert "u-1" in html  # its user
    assert "Signed In" in html  # its latest usage event
    page = client.get(reverse("admin:crm_usageuser_change", args=[user.pk])).content.decode()
    assert "••••1234" in page
    assert "abcd efgh" not in page
    assert "Region" in page
    assert "s-1" in page  # the session


def test_another_labels_objects_are_404(worlds, tenant_b, staff_client):
    (account, user), _ = worlds
    client = staff_client(tenant_b.admin)
    assert client.get(reverse("admin:crm_customeraccount_change", args=[account.pk])).status_code == 404
    assert client.get(reverse("admin:crm_usageuser_change", args=[user.pk])).status_code == 404
    app = UsageApp.objects.get(label=account.label, app_id="app-1")
    assert client.get(reverse("admin:crm_usageapp_change", args=[app.pk])).status_code == 404
    listed = client.get(reverse("admin:crm_customeraccount_changelist")).context["cl"].result_list
    assert [a.name for a in listed] == ["B's Northwind"]


def test_outsider_gets_403(worlds, outsider, staff_client):
    client = staff_client(outsider)
    for name in PAGES:
        assert client.get(reverse(f"admin:crm_{name}_changelist")).status_code == 403


def test_accounts_and_users_are_read_only(worlds, tenant_a, staff_client):
    (account, user), _ = worlds
    client = staff_client(tenant_a.admin)
    client.post(reverse("admin:crm_customeraccount_change", args=[account.pk]), {"name": "Changed"})
    assert CustomerAccount.objects.get(pk=account.pk).name == "Northwind"
    assert client.get(reverse("admin:crm_customeraccount_add")).status_code == 403
    assert client.get(reverse("admin:crm_usageuser_add")).status_code == 403
    assert client.post(reverse("admin:crm_usageuser_delete", args=[user.pk])).status_code == 403
    assert UsageUser.objects.filter(pk=user.pk).exists()


def test_integration_engineer_maps_an_app_to_a_brand_of_its_label(worlds, tenant_a, tenant_b, staff_with_role,
                                                                   staff_client):  # fmt: skip
    client = staff_client(staff_with_role(tenant_a.label, Role.INTEGRATION_ENGINEER))
    sports = BrandFactory(label=tenant_a.label, ext_brand_id="sports")
    response = client.post(reverse("admin:crm_usageapp_add"),
                           {"label": tenant_a.label.pk, "app_id": "web-app", "name": "Web", "brand": sports.pk})  # fmt: skip
    assert response.status_code == 302
    assert UsageApp.objects.get(label=tenant_a.label, app_id="web-app").brand == sports
    response = client.post(reverse("admin:crm_usageapp_add"),
                           {"label": tenant_a.label.pk, "app_id": "x", "brand": tenant_b.brand.pk})  # fmt: skip
    assert response.status_code == 200  # the form again: another label's brand is no choice
    assert not UsageApp.objects.filter(app_id="x").exists()


def test_a_manager_cannot_map_apps(worlds, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert client.get(reverse("admin:crm_usageapp_add")).status_code == 403


def test_user_search_and_filters(worlds, tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    found = client.get(reverse("admin:crm_usageuser_changelist"), {"q": "u-1"}).context["cl"].result_list
    assert [u.user_id for u in found] == ["u-1"]
    guests = client.get(reverse("admin:crm_usageuser_changelist"), {"kind": "GUEST"}).context["cl"].result_list
    assert [u.user_id for u in guests] == ["u-1-guest"]
    page = client.get(reverse("admin:crm_usageuser_change", args=[guests[0].pk])).content.decode()
    assert "1 event of this guest held until it logs in" in page
