"""The store in the admin: managers configure items and categories, support only reads, labels see only their own."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import Role
from gamification.models import Level, StoreCategory, StoreItem
from gamification.services.store import store_purchase
from tests.gamification.store_helpers import fund, item_make

pytestmark = pytest.mark.django_db

ITEMS = "admin:gamification_storeitem_changelist"
ADD = "admin:gamification_storeitem_add"


def _form(label, **overrides) -> dict:
    return {
        "label": label.pk,
        "category": "",
        "name": "Hoodie",
        "description": "",
        "image_url": "",
        "type": "tangible",
        "target_level": "",
        "price": "500",
        "currency": "points",
        "stock": "20",
        "cap_count": "1",
        "cap_period": "day",
        "is_active": "on",
        "active_from_0": "",
        "active_from_1": "",
        "active_till_0": "",
        "active_till_1": "",
    } | overrides


def _change(item) -> str:
    return reverse("admin:gamification_storeitem_change", args=[item.pk])


def test_managers_add_items_and_support_only_reads(tenant_a, staff_with_role, staff_client):
    support = staff_client(staff_with_role(tenant_a.label, Role.SUPPORT))
    assert support.get(reverse(ITEMS)).status_code == 200
    assert support.post(reverse(ADD), _form(tenant_a.label)).status_code == 403
    manager = staff_client(staff_with_role(tenant_a.label, Role.MANAGER))
    assert manager.post(reverse(ADD), _form(tenant_a.label)).status_code == 302
    item = StoreItem.objects.get(name="Hoodie")
    assert (item.label, item.price, item.stock, item.cap_count, item.cap_period) == (tenant_a.label, 500, 20, 1, "day")
    assert support.post(_change(item), _form(tenant_a.label, price="1")).status_code == 403
    item.refresh_from_db()
    assert item.price == 500


def test_an_item_form_refuses_a_half_cap_a_missing_level_and_another_labels_level(tenant_a, tenant_b, staff_client):
    client = staff_client(tenant_a.admin)
    half_cap = client.post(reverse(ADD), _form(tenant_a.label, cap_period=""))
    assert "Set both the cap count and its period" in half_cap.content.decode()
    no_level = client.post(reverse(ADD), _form(tenant_a.label, type="change_level"))
    assert "needs a target level" in no_level.content.decode()
    foreign = Level.objects.create(label=tenant_b.label, name="B gold", required_points=1)
    response = client.post(reverse(ADD), _form(tenant_a.label, type="change_level", target_level=foreign.pk))
    assert response.status_code == 200  # not a choice for staff of A
    assert not StoreItem.objects.exists()


def test_each_label_sees_only_its_own_items_categories_and_purchases(
    tenant_a, tenant_b, outsider, staff_with_role, staff_client
):
    for tenant in (tenant_a, tenant_b):
        StoreCategory.objects.create(label=tenant.label, name=f"Shelf {tenant.label.name}")
        fund(tenant.player, 100)
        store_purchase(player=tenant.player, item=item_make(tenant.label, name=f"Item {tenant.label.name}"), key="k")
    for own, foreign in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        client = staff_client(own.admin)
        for model in ("storeitem", "storecategory", "storepurchase"):
            page = client.get(reverse(f"admin:gamification_{model}_changelist")).content.decode()
            assert own.label.name in page
            assert foreign.label.name not in page
        foreign_item = StoreItem.objects.get(label=foreign.label)
        assert client.get(_change(foreign_item)).status_code == 404
        assert client.post(_change(foreign_item), _form(foreign.label, price="1")).status_code == 404
    assert StoreItem.objects.filter(price=1).count() == 0
    for model in ("storeitem", "storecategory", "storepurchase"):
        assert staff_client(outsider).get(reverse(f"admin:gamification_{model}_changelist")).status_code == 403


def test_purchases_are_read_only_even_for_admins(tenant_a, staff_client):
    fund(tenant_a.player, 100)
    purchase = store_purchase(player=tenant_a.player, item=item_make(tenant_a.label), key="k").purchase
    client = staff_client(tenant_a.admin)
    assert client.get(reverse("admin:gamification_storepurchase_add")).status_code == 403
    change = reverse("admin:gamification_storepurchase_change", args=[purchase.pk])
    assert client.get(change).status_code == 200
    delete = reverse("admin:gamification_storepurchase_delete", args=[purchase.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403


def test_the_sidebar_links_the_store(tenant_a, staff_client):
    page = staff_client(tenant_a.admin).get(reverse("admin:index")).content.decode()
    for model in ("storeitem", "storecategory", "storepurchase"):
        assert reverse(f"admin:gamification_{model}_changelist") in page


def test_the_item_page_previews_the_item_as_players_see_it(tenant_a, staff_client):
    item = item_make(tenant_a.label, name="Cap", price=300, stock=5, cap_count=1, cap_period="day")
    html = staff_client(tenant_a.admin).get(reverse("admin:gamification_storeitem_change", args=[item.pk])).content
    html = html.decode()
    assert 'data-testid="item-preview"' in html
    assert "300 points · 5 left · at most 1 per player a day" in html
