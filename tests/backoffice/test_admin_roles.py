"""The role matrix of the admin (reference INDEX): what each role may do in its own label, and nothing in another."""

from __future__ import annotations

import pytest
from django.urls import reverse

from backoffice.models import ApiKey, Brand, Label, Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ALL_ROLES = [Role.ADMIN, Role.MANAGER, Role.SUPPORT, Role.INTEGRATION_ENGINEER]
# what each role may do, per capability
MAY = {
    "manage_label": {Role.ADMIN},  # label settings, brands, staff roles
    "manage_keys": {Role.ADMIN, Role.INTEGRATION_ENGINEER},  # API keys and the label's salt
}


def _brand_form(brand, **changes) -> dict:
    return {"name": brand.name, "is_active": "on", **changes}


def _label_form(label, **changes) -> dict:
    data = {
        "name": label.name,
        "time_zone": label.time_zone,
        "allowed_entry_points": ",".join(label.allowed_entry_points),
        "control_group_pct": str(label.control_group_pct),
        "base_currency": label.base_currency,
        "bonus_daily_cap": str(label.bonus_daily_cap),
    }
    if label.active_players_only:
        data["active_players_only"] = "on"  # a checkbox: absent means off, as a browser sends it
    return {**data, **changes}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_everyone_with_a_role_reads_everything_of_their_label(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    for name, obj in (
        ("crm_player", tenant_a.player),
        ("backoffice_brand", tenant_a.brand),
        ("backoffice_label", tenant_a.label),
        ("backoffice_apikey", tenant_a.api_key),
        ("backoffice_staffrole", tenant_a.admin.label_roles.get()),
    ):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200, name
        assert client.get(reverse(f"admin:{name}_change", args=[obj.pk])).status_code == 200, name


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_label_admins_change_brands(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY["manage_label"]
    assert client.get(reverse("admin:backoffice_brand_add")).status_code == (200 if allowed else 403)
    url = reverse("admin:backoffice_brand_change", args=[tenant_a.brand.pk])
    response = client.post(url, _brand_form(tenant_a.brand, name="Renamed casino"))
    assert response.status_code == (302 if allowed else 403)
    tenant_a.brand.refresh_from_db()
    assert (tenant_a.brand.name == "Renamed casino") is allowed
    page = client.get(url).content.decode()
    assert ('name="_save"' in page) is allowed


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_label_admins_change_label_settings(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY["manage_label"]
    url = reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])
    response = client.post(
        url,
        _label_form(
            tenant_a.label, time_zone="Europe/Malta", allowed_entry_points="lobby,mobile", control_group_pct="5"
        ),
    )
    assert response.status_code == (302 if allowed else 403)
    tenant_a.label.refresh_from_db()
    assert (tenant_a.label.time_zone == "Europe/Malta") is allowed
    assert (tenant_a.label.allowed_entry_points == ["lobby", "mobile"]) is allowed


@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_label_admins_give_staff_roles(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY["manage_label"]
    assert client.get(reverse("admin:backoffice_staffrole_add")).status_code == (200 if allowed else 403)
    other = staff_with_role(tenant_a.label, Role.SUPPORT).label_roles.get()
    response = client.post(reverse("admin:backoffice_staffrole_change", args=[other.pk]), {"role": Role.ADMIN})
    assert response.status_code == (302 if allowed else 403)
    other.refresh_from_db()
    assert (other.role == Role.ADMIN) is allowed
    response = client.post(reverse("admin:backoffice_staffrole_delete", args=[other.pk]), {"post": "yes"})
    assert response.status_code == (302 if allowed else 403)
    assert (not type(other).objects.filter(pk=other.pk).exists()) is allowed


@pytest.mark.parametrize("role", ALL_ROLES)
def test_api_keys_are_for_admins_and_integration_engineers(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY["manage_keys"]
    assert client.get(reverse("admin:backoffice_apikey_add")).status_code == (200 if allowed else 403)
    response = client.post(reverse("admin:backoffice_apikey_add"), {"name": "new", "label": tenant_a.label.pk})
    assert response.status_code == (302 if allowed else 403)
    revoke = reverse("admin:backoffice_apikey_revoke", args=[tenant_a.api_key.pk])
    assert client.post(revoke).status_code == (302 if allowed else 403)
    tenant_a.api_key.refresh_from_db()
    assert (not tenant_a.api_key.is_active) is allowed


@pytest.mark.parametrize("role", ALL_ROLES)
def test_the_salt_is_for_admins_and_integration_engineers(role, tenant_a, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    allowed = role in MAY["manage_keys"]
    salt = tenant_a.label.salt
    page = client.get(reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])).content.decode()
    assert (salt in page) is allowed
    rotate = reverse("admin:backoffice_label_rotate_salt", args=[tenant_a.label.pk])
    assert (rotate in page) is allowed
    assert client.post(rotate).status_code == (302 if allowed else 403)
    tenant_a.label.refresh_from_db()
    assert (tenant_a.label.salt != salt) is allowed


# What each role gets for the attempts below, in order: another label's ids are 404 where the role may do the same in
# its own label, 403 where it may nowhere (refused before any lookup); an add form that offers only the role's own
# labels answers 200 with the label refused.
NO_ACT = {
    Role.ADMIN: [404, 404, 404, 404, 404, 200, 200],
    Role.MANAGER: [403, 403, 403, 403, 403, 403, 403],
    Role.SUPPORT: [403, 403, 403, 403, 403, 403, 403],
    Role.INTEGRATION_ENGINEER: [403, 403, 404, 404, 404, 403, 200],  # the label page offers it the salt rotation
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_no_role_acts_on_another_label(role, tenant_a, tenant_b, staff_with_role, staff_client):
    client = staff_client(staff_with_role(tenant_a.label, role))
    brand_b, label_b, key_b = tenant_b.brand, tenant_b.label, tenant_b.api_key
    before = (brand_b.name, label_b.name, label_b.salt, key_b.is_active)
    attempts = [
        (reverse("admin:backoffice_brand_change", args=[brand_b.pk]), _brand_form(brand_b, name="Hijacked")),
        (reverse("admin:backoffice_brand_delete", args=[brand_b.pk]), {"post": "yes"}),
        (reverse("admin:backoffice_label_change", args=[label_b.pk]), _label_form(label_b, name="Hijacked")),
        (reverse("admin:backoffice_label_rotate_salt", args=[label_b.pk]), {}),
        (reverse("admin:backoffice_apikey_revoke", args=[key_b.pk]), {}),
        (reverse("admin:backoffice_brand_add"), {"label": label_b.pk, "name": "Planted", "ext_brand_id": "planted"}),
        (reverse("admin:backoffice_apikey_add"), {"label": label_b.pk, "name": "Planted"}),
    ]
    assert [client.post(url, data).status_code for url, data in attempts] == NO_ACT[role]
    brand_b.refresh_from_db()
    label_b.refresh_from_db()
    key_b.refresh_from_db()
    assert (brand_b.name, label_b.name, label_b.salt, key_b.is_active) == before
    assert not Brand.objects.filter(ext_brand_id="planted").exists()
    assert not ApiKey.objects.filter(name="Planted").exists()


def test_forms_offer_only_labels_where_the_user_holds_the_permission(tenant_a, tenant_b, staff_client):
    # Admin of A, support in B: B is readable but never offered as the label of a new brand or key.
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    client = staff_client(tenant_a.admin)
    for url in (reverse("admin:backoffice_brand_add"), reverse("admin:backoffice_apikey_add")):
        form = client.get(url).context["adminform"].form
        assert list(form.fields["label"].queryset) == [tenant_a.label]
    brands = client.get(reverse("admin:backoffice_brand_changelist")).content.decode()
    assert tenant_b.brand.name in brands
    response = client.post(
        reverse("admin:backoffice_brand_change", args=[tenant_b.brand.pk]), _brand_form(tenant_b.brand, name="X")
    )
    assert response.status_code == 403


def test_mixed_roles_cannot_bulk_delete_across_labels(tenant_a, tenant_b, staff_client):
    # Admin of A, support in B: the bulk delete action must refuse B's brand even though the list shows it.
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    extra_a = Brand.objects.create(label=tenant_a.label, name="Spare", ext_brand_id="spare")
    extra_b = Brand.objects.create(label=tenant_b.label, name="Spare B", ext_brand_id="spare")
    client = staff_client(tenant_a.admin)
    response = client.post(
        reverse("admin:backoffice_brand_changelist"),
        {"action": "delete_selected", "_selected_action": [extra_a.pk, extra_b.pk], "post": "yes"},
    )
    assert response.status_code == 403
    assert Brand.objects.filter(pk__in=[extra_a.pk, extra_b.pk]).count() == 2
    confirm = client.post(
        reverse("admin:backoffice_brand_changelist"),
        {"action": "delete_selected", "_selected_action": [extra_a.pk, extra_b.pk]},
    )
    assert "doesn't have permission to delete" in confirm.content.decode()
    client.post(
        reverse("admin:backoffice_brand_changelist"),
        {"action": "delete_selected", "_selected_action": [extra_a.pk], "post": "yes"},
    )
    assert not Brand.objects.filter(pk=extra_a.pk).exists()


def test_labels_are_added_and_deleted_by_superusers_only(tenant_a, staff_client):
    admin = staff_client(tenant_a.admin)
    assert admin.get(reverse("admin:backoffice_label_add")).status_code == 403
    assert (
        admin.post(reverse("admin:backoffice_label_delete", args=[tenant_a.label.pk]), {"post": "yes"}).status_code
        == 403
    )
    root = staff_client(UserFactory(is_superuser=True))
    response = root.post(
        reverse("admin:backoffice_label_add"),
        {
            "name": "Fresh label",
            "time_zone": "UTC",
            "is_active": "on",
            "control_group_pct": "0",
            "base_currency": "EUR",
            "bonus_daily_cap": "30",
        },
    )
    assert response.status_code == 302
    fresh = Label.objects.get(name="Fresh label")
    # A label with brands and keys is protected; the page says why instead of listing every player.
    page = root.get(reverse("admin:backoffice_label_delete", args=[tenant_a.label.pk])).content.decode()
    assert "1 brand(s)" in page
    assert "1 API key(s)" in page
    root.post(reverse("admin:backoffice_label_delete", args=[tenant_a.label.pk]), {"post": "yes"})
    assert Label.objects.filter(pk=tenant_a.label.pk).exists()
    root.post(reverse("admin:backoffice_label_delete", args=[fresh.pk]), {"post": "yes"})
    assert not Label.objects.filter(pk=fresh.pk).exists()


def test_label_admins_cannot_deactivate_their_label(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    url = reverse("admin:backoffice_label_change", args=[tenant_a.label.pk])
    response = client.post(url, _label_form(tenant_a.label, name="Label A renamed"))  # no is_active: would be off
    assert response.status_code == 302
    tenant_a.label.refresh_from_db()
    assert tenant_a.label.name == "Label A renamed"
    assert tenant_a.label.is_active
