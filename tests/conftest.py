"""Shared fixtures: two labels with a brand each, the three personas of every access test, API clients."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from backoffice.models import Role
from backoffice.services.apikeys import api_key_create
from tests.factories import BrandFactory, LabelFactory, PlayerFactory, StaffRoleFactory, UserFactory


@dataclass
class Tenant:
    label: object
    brand: object
    player: object
    admin: object  # staff user with the admin role in this label only
    api_key: object
    raw_key: str


def _tenant(name: str) -> Tenant:
    label = LabelFactory(name=f"Label {name}")
    brand = BrandFactory(label=label, ext_brand_id="shared-brand", name=f"{name} casino")
    player = PlayerFactory(brand=brand, label=label, user_ext_id="shared-player")
    admin = StaffRoleFactory(label=label, role=Role.ADMIN, user=UserFactory(username=f"admin_{name.lower()}")).user
    key, raw = api_key_create(label=label, name=f"{name} key")
    return Tenant(label=label, brand=brand, player=player, admin=admin, api_key=key, raw_key=raw)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Every test starts with empty rate-limit counters: the whole suite calls from 127.0.0.1 within minutes."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def tenant_a(db) -> Tenant:
    """Label A. Its brand and player use the same external ids as label B's, so leaks cannot hide."""
    return _tenant("A")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return _tenant("B")


@pytest.fixture
def outsider(db):
    """A staff user with no role in any label."""
    return UserFactory(username="outsider")


@pytest.fixture
def staff_with_role(db):
    """Make a staff user with `role` in `label`; with `user`, give that user `role` in one more label (staff of two
    labels)."""

    def make(label, role: str, username: str | None = None, *, user=None):
        user = user or UserFactory(**({"username": username} if username else {}))
        StaffRoleFactory(user=user, label=label, role=role)
        return user

    return make


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def key_client(tenant_a):
    """An API client authenticated with label A's key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    return client


@pytest.fixture
def staff_client():
    """Make a Django test client logged in as `user` (anonymous with None), each with its own session."""
    from django.test import Client

    def make(user=None):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make
