"""The operator's Bonus API, per label: where Pitboss calls it and the shared secret both sides authenticate with."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel


class BonusApiConnection(LabelScopedModel):
    """A label's Bonus API (docs/bonus-api.md): its base URL, the shared secret (encrypted at rest, never shown again)
    and the timeouts of each call. The secret authenticates Pitboss's calls to the operator and the operator's
    redeem callbacks to Pitboss (`Authorization: Bearer <secret>`)."""

    base_url = models.URLField(
        max_length=500,
        help_text="The API's root, e.g. https://bonus.operator.example/pitboss (catalogue, bonuses below it).",
    )
    secret = EncryptedTextField(help_text="Shared secret, sent as a Bearer token (encrypted at rest).")
    connect_timeout_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=3,
        validators=[MinValueValidator(0.1), MaxValueValidator(60)],
        help_text="Seconds to open a connection; past it nothing was sent and the call is retried.",
    )
    read_timeout_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=10,
        validators=[MinValueValidator(0.1), MaxValueValidator(120)],
        help_text="Seconds to wait for the answer; past it the outcome is unknown and is looked up by key.",
    )
    is_active = models.BooleanField(default=True, help_text="Off: bonuses wait (and fail after the retry window).")
    catalogue_synced_at = models.DateTimeField(null=True, blank=True, help_text="Last successful catalogue sync.")
    catalogue_error = models.TextField(blank=True, help_text="The last catalogue sync's failure, if any.")

    class Meta:
        ordering = ["label__name"]
        constraints = [models.UniqueConstraint(fields=["label"], name="bonus_api_connection_one_per_label")]

    def __str__(self) -> str:
        return f"Bonus API of {self.label}" if self.label_id else "Bonus API"
