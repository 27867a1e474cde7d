"""Encryption at rest for PII: Fernet (AES-128-CBC + HMAC) with key rotation, and a keyed digest for lookups."""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64 bytes), newest first."
        ) from exc


def encrypt(value: str) -> str:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from exc


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_phone(value: str) -> str:
    return re.sub(r"[\s\-().]", "", value)


def lookup_digest(value: str | None) -> str | None:
    """A keyed digest of an already normalized value: equal values give equal digests, the value is not revealed."""
    if not value:
        return None
    return hmac.new(settings.FIELD_LOOKUP_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
