"""Clients of the SmartKarrot-compatible endpoints: Basic auth `apikey:<key>`, as the reference's curl examples."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient


def basic(raw_key: str) -> str:
    return "Basic " + base64.b64encode(f"apikey:{raw_key}".encode()).decode()


@pytest.fixture
def sk_client(tenant_a):
    """Label A's key, as a SmartKarrot client sends it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(tenant_a.raw_key))
    return client


@pytest.fixture
def sk_client_b(tenant_b):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=basic(tenant_b.raw_key))
    return client
