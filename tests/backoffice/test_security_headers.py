"""`Cache-Control: no-store` on every API answer; the Content-Security-Policy of the admin and the API docs."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from backoffice.models import Role

pytestmark = pytest.mark.django_db

ADMIN_POLICY = {
    "default-src": ["'none'"],
    "script-src": ["'self'", "'unsafe-eval'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}


def policy(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]} (django-csp does not keep their order)."""
    directives = (part.split() for part in response.headers["Content-Security-Policy"].split(";"))
    return {name: sources for name, *sources in directives}


@pytest.mark.parametrize(
    ("path", "authorized", "status"),
    [
        ("/api/v1/brands", True, 200),
        ("/api/v1/brands", False, 401),
        ("/api/v1/brands?q=%00", True, 400),  # refused by a middleware before any view
        ("/api/v1/no-such-endpoint", True, 404),
    ],
)
def test_every_api_answer_is_no_store(tenant_a, path, authorized, status):
    client = APIClient()
    if authorized:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")

    response = client.get(path)

    assert response.status_code == status
    assert response.headers["Cache-Control"] == "no-store"


def test_a_throttled_api_answer_is_no_store(tenant_a):
    rates = {"api_key": "1/minute", "address": "100/minute", "failed_auth": "100/minute"}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tenant_a.raw_key}")
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        client.get("/api/v1/brands")
        response = client.get("/api/v1/brands")

    assert response.status_code == 429
    assert response.headers["Cache-Control"] == "no-store"


def test_the_admin_login_page_has_the_strict_policy(client):
    response = client.get(reverse("admin:login"))

    assert response.status_code == 200
    assert policy(response) == ADMIN_POLICY


def test_an_admin_page_with_an_inline_script_allows_it_by_this_responses_nonce(tenant_a, tenant_b, staff_client):
    # Two labels: the label switcher's script is inline, with the nonce.
    admin = tenant_a.admin
    tenant_b.label.staff_roles.create(user=admin, role=Role.ADMIN)

    response = staff_client(admin).get(reverse("admin:index"))

    assert response.status_code == 200
    sources = policy(response)
    nonce = re.fullmatch(r"'nonce-([^']+)'", sources["script-src"][-1]).group(1)
    assert {**sources, "script-src": sources["script-src"][:-1]} == ADMIN_POLICY
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "onchange=" not in response.content.decode()  # inline handlers would be refused


def test_swagger_ui_needs_no_inline_script(client):
    response = client.get(reverse("api-docs"))

    assert response.status_code == 200
    assert policy(response) == ADMIN_POLICY
    assert "<script>" not in response.content.decode()


def test_redoc_gets_what_it_needs_and_no_more(client):
    response = client.get(reverse("api-redoc"))

    assert response.status_code == 200
    sources = policy(response)
    assert sources["script-src"] == ["'self'", "'unsafe-eval'", "'unsafe-inline'", "blob:"]
    assert sources["worker-src"] == ["'self'", "blob:"]
    assert sources["font-src"] == ["'self'", "https://fonts.gstatic.com"]
