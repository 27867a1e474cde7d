"""Writes to partner API keys."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from django.db import transaction
from django.utils import timezone

from backoffice.models import ApiKey, Label
from backoffice.models.apikeys import key_digest

KEY_PREFIX = "pb"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def api_key_create(*, label: Label, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw key, which is never stored and cannot be shown again."""
    prefix = secrets.token_hex(4)
    raw = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        key = ApiKey.objects.create(
            label=label, name=name, prefix=prefix, digest=key_digest(raw), created_by=created_by
        )
    return key, raw


def api_key_revoke(*, api_key: ApiKey) -> None:
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])


def api_key_check(*, raw: str) -> ApiKey | None:
    """The active key for `raw`, or None. Records its use at most once a minute so hot endpoints do not write."""
    parts = raw.split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("label").filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.digest, key_digest(raw)):
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
