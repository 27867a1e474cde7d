"""API authentication: both key forms, revoked and foreign keys, staff sessions, outsiders."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from backoffice.models import ApiKey, Role, StaffRole
from backoffice.services.apikeys import api_key_create, api_key_revoke
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _get(header: str | None, path: str = "/api/v1/brands"):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    return client.get(path)


def test_api_key_header_and_basic_auth_both_work(tenant_a, tenant_b):
    for header in (f"Api-Key {tenant_a.raw_key}", _basic("apikey", tenant_a.raw_key)):
        response = _get(header)
        assert response.status_code == 200, response.content
        assert [b["brand_key"] for b in response.json()] == [tenant_a.brand.brand_key]


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "not_authenticated"),
        ("Api-Key pb_nope_nope", "authentication_failed"),
        ("Api-Key ", "authentication_failed"),
        ("Basic !!!not-base64", "authentication_failed"),
        ("Bearer something", "not_authenticated"),
    ],
)
def test_missing_or_malformed_credentials_answer_401_in_the_error_shape(tenant_a, header, code):
    response = _get(header)
    assert response.status_code == 401
    assert response.json() == {"code": code, "message": response.json()["message"], "errors": {}}
    assert response.headers["WWW-Authenticate"].startswith("Api-Key")


def test_basic_auth_with_another_user_name_is_refused(tenant_a):
    response = _get(_basic("admin", tenant_a.raw_key))
    assert response.status_code == 401
    assert "apikey" in response.json()["message"]


def test_a_key_with_a_correct_prefix_but_wrong_secret_is_refused(tenant_a):
    forged = f"pb_{tenant_a.api_key.prefix}_{'x' * 43}"
    assert _get(f"Api-Key {forged}").status_code == 401


def test_revoked_key_is_refused(tenant_a):
    api_key_revoke(api_key=tenant_a.api_key)
    response = _get(f"Api-Key {tenant_a.raw_key}")
    assert response.status_code == 401
    assert response.json()["message"] == "This API key was revoked."


def test_key_of_an_inactive_label_is_refused(tenant_a):
    tenant_a.label.is_active = False
    tenant_a.label.save()
    assert _get(f"Api-Key {tenant_a.raw_key}").status_code == 401


def test_key_is_stored_only_as_a_digest_and_use_is_recorded(tenant_a):
    key = ApiKey.objects.get(pk=tenant_a.api_key.pk)
    assert tenant_a.raw_key not in {key.digest, key.prefix, key.name}
    assert key.last_used_at is None
    _get(f"Api-Key {tenant_a.raw_key}")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_a_new_key_is_different_each_time(tenant_a):
    _, raw1 = api_key_create(label=tenant_a.label, name="one")
    _, raw2 = api_key_create(label=tenant_a.label, name="two")
    assert raw1 != raw2
    assert _get(f"Api-Key {raw1}").status_code == 200


def test_staff_session_sees_only_their_labels(tenant_a, tenant_b, outsider, staff_with_role):
    client = APIClient()
    client.force_login(tenant_a.admin)
    assert [b["label_key"] for b in client.get("/api/v1/brands").json()] == [tenant_a.label.label_key]

    client.force_login(outsider)
    response = client.get("/api/v1/brands")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"

    both = staff_with_role(tenant_a.label, Role.SUPPORT, username="both")
    staff_with_role(tenant_b.label, Role.SUPPORT, user=both)
    client.force_login(both)
    keys = sorted(b["label_key"] for b in client.get("/api/v1/brands").json())
    assert keys == sorted([tenant_a.label.label_key, tenant_b.label.label_key])


def test_non_staff_django_user_gets_nothing(tenant_a):
    user = UserFactory(is_staff=False)
    StaffRole.objects.create(user=user, label=tenant_a.label, role=Role.ADMIN)
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/brands").status_code == 401
