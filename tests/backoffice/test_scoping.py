"""The one scoping mechanism: actors built from staff roles, API keys and tasks."""

from __future__ import annotations

import pytest

from backoffice.models import Brand, Label, Perm, Role, StaffRole
from backoffice.scoping import NOBODY, actor_for_api_key, actor_for_label, actor_for_user
from crm.models import Player
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [
        (Role.ADMIN, {Perm.VIEW, Perm.CONFIG_CHANGE, Perm.LABEL_MANAGE, Perm.KEYS_MANAGE, Perm.PLAYER_ACT}, set()),
        (Role.MANAGER, {Perm.VIEW, Perm.CONFIG_CHANGE, Perm.PLAYER_ACT}, {Perm.LABEL_MANAGE, Perm.KEYS_MANAGE}),
        (Role.SUPPORT, {Perm.VIEW, Perm.PLAYER_ACT}, {Perm.CONFIG_CHANGE, Perm.KEYS_MANAGE, Perm.DATA_SOURCES}),
        (
            Role.INTEGRATION_ENGINEER,
            {Perm.VIEW, Perm.PLAYER_ACT, Perm.KEYS_MANAGE, Perm.DATA_SOURCES},
            {Perm.CONFIG_CHANGE, Perm.LABEL_MANAGE},
        ),
    ],
)
def test_role_permissions_follow_the_reference(tenant_a, tenant_b, staff_with_role, role, allowed, denied):
    actor = actor_for_user(staff_with_role(tenant_a.label, role))
    for perm in allowed:
        assert actor.can(perm, tenant_a.label.pk)
        assert not actor.can(perm, tenant_b.label.pk)
    for perm in denied:
        assert not actor.can(perm, tenant_a.label.pk)


def test_querysets_scope_to_the_actor(tenant_a, tenant_b, outsider):
    actor_a = actor_for_user(tenant_a.admin)
    assert list(Player.objects.for_actor(actor_a)) == [tenant_a.player]
    assert list(Brand.objects.for_actor(actor_a)) == [tenant_a.brand]
    assert list(Label.objects.for_actor(actor_a)) == [tenant_a.label]
    assert list(StaffRole.objects.for_actor(actor_a).values_list("user_id", flat=True)) == [tenant_a.admin.pk]
    assert list(Player.objects.for_actor(actor_for_user(outsider))) == []
    assert list(Player.objects.for_actor(NOBODY)) == []
    assert list(Player.objects.for_actor(actor_for_api_key(tenant_b.api_key))) == [tenant_b.player]
    assert list(Player.objects.for_actor(actor_for_label(tenant_b.label.pk))) == [tenant_b.player]


def test_the_label_switcher_narrows_but_never_widens(tenant_a, tenant_b):
    tenant_a.admin.label_roles.create(label=tenant_b.label, role=Role.SUPPORT)
    both = actor_for_user(tenant_a.admin)
    assert both.label_ids == {tenant_a.label.pk, tenant_b.label.pk}
    assert actor_for_user(tenant_a.admin, current_label_id=tenant_b.label.pk).label_ids == {tenant_b.label.pk}
    stranger_label = Label.objects.create(name="Stranger")
    assert actor_for_user(tenant_a.admin, current_label_id=stranger_label.pk).label_ids == both.label_ids
    assert not both.can(Perm.CONFIG_CHANGE, tenant_b.label.pk)  # support there
    assert both.can(Perm.CONFIG_CHANGE, tenant_a.label.pk)


def test_inactive_labels_and_inactive_users_grant_nothing(tenant_a):
    tenant_a.label.is_active = False
    tenant_a.label.save()
    assert actor_for_user(tenant_a.admin).label_ids == frozenset()
    tenant_a.label.is_active = True
    tenant_a.label.save()
    tenant_a.admin.is_active = False
    assert actor_for_user(tenant_a.admin) is NOBODY
    assert actor_for_user(UserFactory(is_staff=False)) is NOBODY


def test_a_superuser_administers_every_label(tenant_a, tenant_b):
    root = UserFactory(is_superuser=True)
    assert actor_for_user(root).labels_with(Perm.LABEL_MANAGE) == {tenant_a.label.pk, tenant_b.label.pk}
