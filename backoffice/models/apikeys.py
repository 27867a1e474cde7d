"""Partner API keys: shown once, stored as a SHA-256 digest, revocable, scoped to one label."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

from backoffice.models.base import LabelScopedModel


def key_digest(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast digest is as safe as a password hash and costs nothing per call.
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(LabelScopedModel):
    """A partner's credential. Only its digest is stored; the key itself is shown once, at creation."""

    name = models.CharField(max_length=120, help_text="What the key is for (e.g. 'platform events').")
    prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="Start of the key, to recognise it."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
