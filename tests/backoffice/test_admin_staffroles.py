"""Staff roles: label admins give roles in their labels, to existing staff or to new staff users made in one step."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from backoffice.models import Role, StaffRole
from backoffice.scoping import actor_for_user
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
User = get_user_model()
ADD = "admin:backoffice_staffrole_add"


def _new_user(label, **extra) -> dict:
    return {
        "label": label.pk,
        "role": Role.MANAGER,
        "new_username": "nora",
        "new_email": "nora@example.com",
        "new_password": "a-Long-enough-passphrase-42",
        **extra,
    }


def test_a_label_admin_creates_a_staff_user_with_a_role_in_one_step(tenant_a, staff_client):
    response = staff_client(tenant_a.admin).post(reverse(ADD), _new_user(tenant_a.label, is_superuser="on"))
    assert response.status_code == 302
    nora = User.objects.get(username="nora")
    assert (nora.is_staff, nora.is_superuser, nora.is_active, nora.email) == (True, False, True, "nora@example.com")
    assert nora.check_password("a-Long-enough-passphrase-42")
    assert StaffRole.objects.get(user=nora).label == tenant_a.label
    assert actor_for_user(nora).roles == {tenant_a.label.pk: Role.MANAGER}
    client = staff_client()
    # Through the login form: django-axes (admin login lockout) authenticates only with a request.
    login = client.post(reverse("admin:login"), {"username": "nora", "password": "a-Long-enough-passphrase-42"})
    assert login.status_code == 302
    assert client.get(reverse("admin:crm_player_changelist")).status_code == 200


def test_a_role_for_an_existing_staff_user(tenant_a, tenant_b, staff_client):
    data = {"label": tenant_a.label.pk, "role": Role.SUPPORT, "existing_username": tenant_b.admin.username}
    assert staff_client(tenant_a.admin).post(reverse(ADD), data).status_code == 302
    assert actor_for_user(tenant_b.admin).roles == {tenant_a.label.pk: Role.SUPPORT, tenant_b.label.pk: Role.ADMIN}


@pytest.mark.parametrize(
    ("extra", "field", "message"),
    [
        ({"existing_username": "admin_b"}, None, "not both"),
        ({"new_username": ""}, None, "not both"),
        ({"new_username": "admin_b"}, "new_username", "This username is taken."),
        ({"new_username": "bad name!"}, "new_username", "Enter a valid username"),
        ({"new_email": ""}, "new_email", "needs an email"),
        ({"new_password": "123"}, "new_password", "too short"),
        ({"new_password": ""}, "new_password", "needs a password"),
    ],
)
def test_bad_input_is_refused_with_a_message_and_creates_nothing(
    tenant_a, tenant_b, staff_client, extra, field, message
):
    users_before = User.objects.count()
    response = staff_client(tenant_a.admin).post(reverse(ADD), _new_user(tenant_a.label, **extra))
    assert response.status_code == 200
    form = response.context["adminform"].form
    errors = form.errors.get(field or "__all__", [])
    assert any(message in error for error in errors), form.errors
    assert User.objects.count() == users_before
    assert StaffRole.objects.filter(role=Role.MANAGER).count() == 0


@pytest.mark.parametrize("kind", ["superuser", "inactive", "not_staff", "unknown", "already_in_label"])
def test_existing_users_must_be_active_staff_without_a_role_here(kind, tenant_a, staff_client):
    username = {"unknown": "nobody", "already_in_label": tenant_a.admin.username}.get(kind, kind)
    if kind in ("superuser", "inactive", "not_staff"):
        UserFactory(
            username=kind, is_superuser=kind == "superuser", is_active=kind != "inactive", is_staff=kind != "not_staff"
        )
    data = {"label": tenant_a.label.pk, "role": Role.SUPPORT, "existing_username": username}
    response = staff_client(tenant_a.admin).post(reverse(ADD), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["existing_username"]
    assert StaffRole.objects.filter(role=Role.SUPPORT).count() == 0


def test_roles_are_given_only_in_labels_the_user_administers(tenant_a, tenant_b, staff_client):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.MANAGER)
    client = staff_client(tenant_a.admin)
    assert list(client.get(reverse(ADD)).context["adminform"].form.fields["label"].queryset) == [tenant_a.label]
    response = client.post(reverse(ADD), _new_user(tenant_b.label))
    assert response.status_code == 200
    assert "label" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="nora").exists()


def test_nobody_changes_or_removes_their_own_role(tenant_a, staff_client):
    own = tenant_a.admin.label_roles.get()
    client = staff_client(tenant_a.admin)
    assert (
        client.post(reverse("admin:backoffice_staffrole_change", args=[own.pk]), {"role": "support"}).status_code == 403
    )
    assert client.post(reverse("admin:backoffice_staffrole_delete", args=[own.pk]), {"post": "yes"}).status_code == 403
    own.refresh_from_db()
    assert own.role == Role.ADMIN


def test_changing_a_role_changes_only_the_role(tenant_a, staff_with_role, staff_client):
    agent = staff_with_role(tenant_a.label, Role.SUPPORT)
    role = agent.label_roles.get()
    response = staff_client(tenant_a.admin).post(
        reverse("admin:backoffice_staffrole_change", args=[role.pk]),
        {"role": Role.MANAGER, "user": tenant_a.admin.pk, "label": 999, "is_superuser": "on"},
    )
    assert response.status_code == 302
    role.refresh_from_db()
    agent.refresh_from_db()
    assert (role.role, role.user_id, role.label_id) == (Role.MANAGER, agent.pk, tenant_a.label.pk)
    assert not agent.is_superuser


def test_label_admins_have_no_access_to_user_accounts_or_system_models(tenant_a, staff_client):
    client = staff_client(tenant_a.admin)
    for name in (
        "auth_user",
        "auth_group",
        "django_celery_beat_periodictask",
        "django_celery_beat_intervalschedule",
        "django_celery_beat_crontabschedule",
        "django_celery_beat_solarschedule",
        "django_celery_beat_clockedschedule",
    ):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403, name
        assert client.get(reverse(f"admin:{name}_add")).status_code == 403, name
    assert client.get(reverse("admin:auth_user_change", args=[tenant_a.admin.pk])).status_code == 403
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:auth_user_changelist") not in index
    assert reverse("admin:django_celery_beat_periodictask_changelist") not in index
    # Pages that name users show them as text, not as links into the user admin.
    tenant_a.api_key.created_by = tenant_a.admin
    tenant_a.api_key.save()
    for url in (
        reverse("admin:backoffice_staffrole_changelist"),
        reverse("admin:backoffice_staffrole_change", args=[tenant_a.admin.label_roles.get().pk]),
        reverse("admin:backoffice_apikey_changelist"),
        reverse("admin:backoffice_apikey_change", args=[tenant_a.api_key.pk]),
    ):
        page = client.get(url).content.decode()
        assert tenant_a.admin.username in page, url
        assert "/admin/auth/user/" not in page, url


def test_superusers_reach_user_accounts_and_system_models(staff_client):
    client = staff_client(UserFactory(is_superuser=True))
    index = client.get(reverse("admin:index")).content.decode()
    for name in ("auth_user", "auth_group", "django_celery_beat_periodictask"):
        assert reverse(f"admin:{name}_changelist") in index
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200
