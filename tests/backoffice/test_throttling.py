"""API rate limits: per key, per client address, and failed authentications per address before any key lookup."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from rest_framework.test import APIClient

from backoffice.env import env

pytestmark = pytest.mark.django_db
BRANDS = "/api/v1/brands"


def rates(*, api_key: str = "1000/minute", address: str = "1000/minute", failed_auth: str = "1000/minute", **extra):
    """Tiny rates for one test (the cache is emptied before each test by tests/conftest.py)."""
    rates = {"api_key": api_key, "address": address, "failed_auth": failed_auth}
    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates, **extra})


def _get(raw_key: str, **meta):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client.get(BRANDS, **meta)


def assert_throttled(response, message: str | None = None) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body == {"code": "throttled", "message": message or body["message"], "errors": {}}
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@rates(api_key="3/minute")
def test_a_key_past_its_rate_gets_429_with_retry_after(tenant_a):
    assert [_get(tenant_a.raw_key).status_code for _ in range(3)] == [200, 200, 200]

    assert_throttled(_get(tenant_a.raw_key))


@rates(api_key="3/minute")
def test_a_key_that_used_up_its_rate_does_not_slow_another_labels_key(tenant_a, tenant_b):
    for _ in range(4):
        _get(tenant_a.raw_key)
    assert _get(tenant_a.raw_key).status_code == 429

    response = _get(tenant_b.raw_key)

    assert response.status_code == 200
    assert [b["brand_key"] for b in response.json()] == [tenant_b.brand.brand_key]


@rates(address="3/minute")
def test_an_address_past_its_rate_gets_429_whatever_key_it_uses(tenant_a, tenant_b):
    statuses = [_get(key).status_code for key in (tenant_a.raw_key, tenant_b.raw_key, tenant_a.raw_key)]
    assert statuses == [200, 200, 200]

    assert_throttled(_get(tenant_b.raw_key))
    assert _get(tenant_b.raw_key, REMOTE_ADDR="10.0.0.2").status_code == 200


@rates(failed_auth="5/minute")
def test_a_flood_of_wrong_keys_is_refused_before_any_key_lookup(tenant_a, django_assert_num_queries):
    wrong = f"pb_{tenant_a.api_key.prefix}_{'x' * 43}"
    assert [_get(wrong).status_code for _ in range(5)] == [401] * 5

    with django_assert_num_queries(0):
        flood = _get(wrong)
        valid_from_the_same_address = _get(tenant_a.raw_key)

    assert_throttled(flood)
    wait = flood["Retry-After"]
    assert flood.json()["message"] == (
        f"Too many failed authentications from your address. Expected available in {wait} second{'s' * (wait != '1')}."
    )
    assert_throttled(valid_from_the_same_address)
    assert _get(tenant_a.raw_key, REMOTE_ADDR="10.0.0.2").status_code == 200


@rates(failed_auth="2/minute")
def test_malformed_credentials_count_as_failures(tenant_a):
    assert [_get("!!!").status_code, _get("pb_nope_nope").status_code] == [401, 401]

    assert_throttled(_get("pb_nope_nope"))


@rates(failed_auth="2/minute")
def test_a_spoofed_forwarded_for_does_not_escape_the_limit_without_trusted_proxies(tenant_a):
    for n in range(2):
        _get("pb_nope_nope", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")

    assert_throttled(_get("pb_nope_nope", HTTP_X_FORWARDED_FOR="198.51.100.9"))


@rates(failed_auth="2/minute", NUM_PROXIES=1)
def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(tenant_a):
    for _ in range(2):
        _get("pb_nope_nope", HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert_throttled(_get("pb_nope_nope", HTTP_X_FORWARDED_FOR="198.51.100.1"))

    assert _get(tenant_a.raw_key, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200


def test_a_rate_from_the_environment_must_be_a_number_per_period(monkeypatch):
    monkeypatch.setenv("PITBOSS_TEST_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="PITBOSS_TEST_RATE='lots' is not a rate"):
        env.rate("PITBOSS_TEST_RATE")

    monkeypatch.setenv("PITBOSS_TEST_RATE", "120/hour")
    assert env.rate("PITBOSS_TEST_RATE") == "120/hour"


def test_without_a_reachable_cache_the_api_still_answers(tenant_a):
    with socket.socket() as sock:  # a port nothing listens on: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{port}/0"}
    }

    with override_settings(CACHES=unreachable), rates(api_key="1/minute", failed_auth="1/minute"):
        assert [_get(tenant_a.raw_key).status_code for _ in range(2)] == [200, 200]
        assert [_get("pb_nope_nope").status_code for _ in range(2)] == [401, 401]
