"""Every admin page, three personas: staff of label A, staff of label B, a staff user with no role.

Each sees its own label's rows only; another label's ids answer 404 (or 403 where the user may do nothing at all),
never the object.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.models import ExchangeRate, Role, StaffRole
from tests.factories import StaffRoleFactory

pytestmark = pytest.mark.django_db


def _support_role(tenant) -> StaffRole:
    # Not the viewer's own role: nobody may change or remove their own.
    role = StaffRole.objects.filter(label=tenant.label, role=Role.SUPPORT).first()
    return role or StaffRoleFactory(label=tenant.label, role=Role.SUPPORT)


def _rate(tenant) -> ExchangeRate:
    rate, _ = ExchangeRate.objects.get_or_create(
        label=tenant.label, currency="SEK", valid_from=dt.date(2026, 1, 1), defaults={"rate": Decimal("0.0875")}
    )
    rate.refresh_from_db()  # the values as stored
    return rate


# model admin -> how to find each tenant's row of it
ROWS = {
    "backoffice_label": lambda t: t.label,
    "backoffice_brand": lambda t: t.brand,
    "backoffice_staffrole": _support_role,
    "backoffice_apikey": lambda t: t.api_key,
    "backoffice_exchangerate": _rate,
    "crm_player": lambda t: t.player,
}
# pages of one object, with the status label A's admin gets on its own row
OBJECT_PAGES = {
    "backoffice_label": {"change": 200, "history": 200, "delete": 403},
    "backoffice_brand": {"change": 200, "history": 200, "delete": 200},
    "backoffice_staffrole": {"change": 200, "history": 200, "delete": 200},
    "backoffice_apikey": {"change": 200, "history": 200, "delete": 403},
    "backoffice_exchangerate": {"change": 200, "history": 200, "delete": 200},
    "crm_player": {"change": 200, "history": 200, "delete": 403},
}
ADD_PAGE = {
    "backoffice_label": 403,  # superusers only
    "backoffice_brand": 200,
    "backoffice_staffrole": 200,
    "backoffice_apikey": 200,
    "backoffice_exchangerate": 200,
    "crm_player": 403,  # players come from the operator's systems
}


def _url(name: str, page: str, obj) -> str:
    return reverse(f"admin:{name}_{page}", args=[obj.pk])


@pytest.mark.parametrize("name", ROWS)
def test_changelists_show_only_the_viewers_label(name, tenant_a, tenant_b, outsider, staff_client):
    url = reverse(f"admin:{name}_changelist")
    row_a, row_b = ROWS[name](tenant_a), ROWS[name](tenant_b)
    for tenant, own, other in ((tenant_a, row_a, row_b), (tenant_b, row_b, row_a)):
        response = staff_client(tenant.admin).get(url)
        assert response.status_code == 200
        html = response.content.decode()
        assert _url(name, "change", own) in html
        assert _url(name, "change", other) not in html
    assert staff_client(outsider).get(url).status_code == 403


@pytest.mark.parametrize("name", ROWS)
def test_object_pages_answer_not_found_across_labels(name, tenant_a, tenant_b, outsider, staff_client):
    row_a, row_b = ROWS[name](tenant_a), ROWS[name](tenant_b)
    admin_a, admin_b = staff_client(tenant_a.admin), staff_client(tenant_b.admin)
    for page, own_status in OBJECT_PAGES[name].items():
        assert admin_a.get(_url(name, page, row_a)).status_code == own_status, page
        assert admin_b.get(_url(name, page, row_b)).status_code == own_status, page
        foreign = admin_a.get(_url(name, page, row_b))
        # 404 where A may do this in its own label, 403 where it may nowhere; never B's row.
        assert foreign.status_code == (404 if own_status == 200 else 403), page
        # Django looks the row up before the permission on history pages: 404 there, 403 elsewhere.
        outsider_status = 404 if page == "history" else 403
        assert staff_client(outsider).get(_url(name, page, row_a)).status_code == outsider_status, page


@pytest.mark.parametrize("name", ROWS)
def test_foreign_object_pages_never_render_the_object(name, tenant_a, tenant_b, staff_client):
    row_b = ROWS[name](tenant_b)
    response = staff_client(tenant_a.admin).get(_url(name, "change", row_b))
    assert response.status_code == 404
    assert str(tenant_b.label) not in response.content.decode()


@pytest.mark.parametrize("name", ROWS)
def test_posting_to_a_foreign_object_changes_nothing(name, tenant_a, tenant_b, staff_client):
    row_b = ROWS[name](tenant_b)
    before = {f.attname: getattr(row_b, f.attname) for f in row_b._meta.concrete_fields}
    client = staff_client(tenant_a.admin)
    client.post(_url(name, "change", row_b), {"name": "hijacked", "role": "support"})
    client.post(_url(name, "delete", row_b), {"post": "yes"})
    row_b.refresh_from_db()
    assert {f.attname: getattr(row_b, f.attname) for f in row_b._meta.concrete_fields} == before


@pytest.mark.parametrize("name", ROWS)
def test_add_pages(name, tenant_a, outsider, staff_client):
    url = reverse(f"admin:{name}_add")
    assert staff_client(tenant_a.admin).get(url).status_code == ADD_PAGE[name]
    assert staff_client(outsider).get(url).status_code == 403


def test_anonymous_and_non_staff_users_are_sent_to_the_login_page(tenant_a, staff_client):
    tenant_a.admin.is_staff = False
    tenant_a.admin.save()
    for client in (staff_client(), staff_client(tenant_a.admin)):
        for name in ROWS:
            response = client.get(reverse(f"admin:{name}_changelist"))
            assert response.status_code == 302
            assert response.url.startswith(reverse("admin:login"))


def test_a_staff_user_without_a_role_sees_an_empty_admin(tenant_a, outsider, staff_client):
    client = staff_client(outsider)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "You have no role in any label" in html
    for name in ROWS:
        assert reverse(f"admin:{name}_changelist") not in html
    assert tenant_a.label.name not in html
    assert client.get(reverse("admin:app_list", args=["backoffice"])).status_code == 404
    assert client.get(reverse("admin:app_list", args=["crm"])).status_code == 404


def test_the_dashboard_shows_each_persona_its_own_label(tenant_a, tenant_b, staff_client):
    for own, other in ((tenant_a, tenant_b), (tenant_b, tenant_a)):
        html = staff_client(own.admin).get(reverse("admin:index")).content.decode()
        assert own.label.name in html
        assert own.brand.name in html
        assert other.label.name not in html
        assert other.brand.name not in html


def test_filters_cannot_reach_into_hidden_columns_of_related_rows(tenant_a, staff_client):
    salt_prefix = tenant_a.label.salt[:4]
    response = staff_client(tenant_a.admin).get(
        reverse("admin:backoffice_brand_changelist"), {"label__salt__startswith": salt_prefix}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("url_name", "row"),
    [
        ("admin:backoffice_label_rotate_salt", lambda t: t.label),
        ("admin:backoffice_apikey_revoke", lambda t: t.api_key),
    ],
)
def test_object_actions_answer_only_inside_the_viewers_label(url_name, row, tenant_a, tenant_b, outsider, staff_client):
    own, foreign = reverse(url_name, args=[row(tenant_a).pk]), reverse(url_name, args=[row(tenant_b).pk])
    salt_b = tenant_b.label.salt
    admin_a = staff_client(tenant_a.admin)
    assert admin_a.get(own).status_code == 200  # the confirmation page
    # Another label's id is 404, as on every page; a staff user who may do this nowhere is refused before any lookup.
    for client, url, status in (
        (admin_a, foreign, 404),
        (staff_client(outsider), own, 403),
        (staff_client(outsider), foreign, 403),
    ):
        assert client.get(url).status_code == status
        assert client.post(url).status_code == status
    tenant_b.label.refresh_from_db()
    tenant_b.api_key.refresh_from_db()
    assert (tenant_b.label.salt, tenant_b.api_key.is_active) == (salt_b, True)
    assert staff_client().post(own).status_code == 302  # anonymous: to the login page
