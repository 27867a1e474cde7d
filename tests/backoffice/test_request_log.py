"""The request log names the client by the address the rate limits and Axes use: a caller cannot choose it with
X-Forwarded-For unless it comes through the trusted proxies (PITBOSS_NUM_PROXIES)."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

pytestmark = pytest.mark.django_db


def _logged_ip(client, **headers) -> str | None:
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        client.get("/healthz", REMOTE_ADDR="203.0.113.7", **headers)
    (started,) = [entry for entry in logs if entry["event"] == "request_started"]
    return started["ip"]


def test_without_trusted_proxies_the_logged_address_is_the_connections(client):
    assert _logged_ip(client) == "203.0.113.7"
    assert _logged_ip(client, HTTP_X_FORWARDED_FOR="198.51.100.66") == "203.0.113.7"  # a header anyone can send


def test_behind_a_trusted_proxy_the_logged_address_is_the_one_it_saw(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert _logged_ip(client, HTTP_X_FORWARDED_FOR="198.51.100.66, 192.0.2.1") == "192.0.2.1"
