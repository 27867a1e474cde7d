"""A label's Bonus API connection: read it, set it, and point it at the built-in sandbox operator."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import transaction

from backoffice.models import Label
from integrations.models import BonusApiConnection, SandboxBonusSettings

SANDBOX_PATH = "/sandbox/bonus-api"
CALLBACK_PATH = "/api/v1/bonus-api"


def bonus_connection_get(*, label_id: int) -> BonusApiConnection | None:
    """The label's connection, or None when none is configured."""
    return BonusApiConnection.objects.filter(label_id=label_id).first()


def bonus_connection_set(
    *,
    label: Label,
    base_url: str,
    secret: str,
    connect_timeout_seconds: Decimal | None = None,
    read_timeout_seconds: Decimal | None = None,
    is_active: bool = True,
) -> BonusApiConnection:
    """Create or replace the label's connection (validated as the admin form validates it)."""
    conn = BonusApiConnection.objects.filter(label=label).first() or BonusApiConnection(label=label)
    conn.base_url, conn.secret, conn.is_active = base_url.rstrip("/"), secret, is_active
    if connect_timeout_seconds is not None:
        conn.connect_timeout_seconds = connect_timeout_seconds
    if read_timeout_seconds is not None:
        conn.read_timeout_seconds = read_timeout_seconds
    conn.full_clean()
    conn.save()
    return conn


def bonus_connection_sandbox_ensure(
    *, label: Label, base_url: str, read_timeout_seconds: Decimal | None = None, templates: bool = False
) -> BonusApiConnection:
    """Point the label's Bonus API at the sandbox operator served by the Pitboss at `base_url` (e.g.
    http://127.0.0.1:8000): the connection, and the sandbox's own settings for the label (same secret, redeem
    callbacks to that Pitboss). Keeps the sandbox's rates, latency and catalogue if it was set up before; a new secret
    each time, written to both sides. With `templates`, the label's templates are synced from the sandbox's catalogue
    right away, without an HTTP call (`manage.py demo` runs before any server is up)."""
    root = base_url.rstrip("/")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        sandbox = SandboxBonusSettings.objects.filter(label=label).first() or SandboxBonusSettings(label=label)
        sandbox.secret = secret
        sandbox.callback_url = f"{root}{CALLBACK_PATH}/{label.label_key}/redeem"
        sandbox.save()
        conn = bonus_connection_set(
            label=label,
            base_url=f"{root}{SANDBOX_PATH}/{label.label_key}",
            secret=secret,
            read_timeout_seconds=read_timeout_seconds,
        )
        if templates:
            _templates_from_sandbox(label, sandbox)
    return conn


def _templates_from_sandbox(label: Label, sandbox: SandboxBonusSettings) -> None:
    from crm.services.bonuses import bonus_templates_apply
    from integrations.bonus_api.client import catalogue_items

    bonus_templates_apply(label=label, items=catalogue_items({"bonuses": sandbox.catalogue or []}))
