"""Fixtures of the bonus tests: templates, and the label's Bonus API pointed at the sandbox operator.

`sandbox` serves the sandbox through httpx's WSGI transport, in this process and this test's transaction: the real
views and client, no socket. Timeouts cannot happen that way; the tests of timeouts and killed workers run the sandbox
in a real server (test_reliability.py, test_timeouts.py)."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from crm.models import BonusTemplate
from integrations import http
from integrations.bonus_api.services import bonus_connection_sandbox_ensure
from integrations.models import SandboxBonusSettings

SANDBOX_CODES = ("10FREE_SPIN_IN_GOLDEN_SLOT", "CASH_5_EUR", "DEPOSIT_MATCH_100", "WELCOME_COUPON")


def template_make(label, code: str = "CASH_5_EUR", **fields) -> BonusTemplate:
    fields = {"name": code.replace("_", " ").title(), "type": "cash", "amount": Decimal("5.00"), **fields}
    return BonusTemplate.objects.create(label=label, operator_code=code, **fields)


@pytest.fixture
def template(tenant_a) -> BonusTemplate:
    return template_make(tenant_a.label)


class InProcessApp:
    """Django's WSGI application on the test's own connection: like the test client, it keeps the request from closing
    the connection (which holds the test's transaction)."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def __call__(self, environ, start_response):
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            response = self.handler(environ, start_response)
            body = b"".join(response)
            response.close()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return [body]


@pytest.fixture
def in_process(monkeypatch):
    """Every HTTP call of the integrations goes to this process's WSGI application (the sandbox and the callback)."""
    monkeypatch.setattr(http, "TRANSPORT", httpx.WSGITransport(app=InProcessApp()))


@pytest.fixture
def sandbox(tenant_a, in_process, settings) -> SandboxBonusSettings:
    """Label A's Bonus API is the sandbox operator; retries are immediate (no backoff to wait for)."""
    settings.PITBOSS_BONUS_RETRY_BASE_SECONDS = 0
    bonus_connection_sandbox_ensure(label=tenant_a.label, base_url="http://localhost")
    return SandboxBonusSettings.objects.get(label=tenant_a.label)
