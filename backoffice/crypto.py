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


ENCRYPTED_KEY = "encrypted"


def seal(value: str) -> dict[str, str]:
    """A value to store inside JSON (an event payload) encrypted: `{"encrypted": <Fernet token>}`."""
    return {ENCRYPTED_KEY: encrypt(value)}


def unseal(value):
    """The plain value of `seal()`'s output; any other value is returned as it is."""
    if isinstance(value, dict) and set(value) == {ENCRYPTED_KEY}:
        return decrypt(value[ENCRYPTED_KEY])
    return value


def keyed_digest(body: bytes) -> str:
    """A 128-bit keyed digest of `body`: equal bodies match, and a digest reveals nothing of a guessable body."""
    key = hashlib.blake2b(settings.FIELD_LOOKUP_KEY.encode(), digest_size=32).digest()
    return hashlib.blake2b(body, key=key, digest_size=16).hexdigest()
