"""Affiliate tracking (reference/intelitics-smart-pixels.txt): affiliates, their campaigns, tracking links that mint
click ids, the clicks, and the conversions the smart pixel `/convert/{click_id}` reports on them.

A click is the root of a funnel: install -> registration -> deposit. Conversions are linear but may skip any step
(a deposit pixel with no registration before it is recorded, and reports show the skip). Every conversion is stored by
one `INSERT ... ON CONFLICT DO NOTHING` on its unique key, so a pixel fired twice, or ten times at once, is one
conversion (see docs/affiliates.md for the keys).
"""

from __future__ import annotations

import secrets
import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel

CLICK_PARAM_VALIDATOR = RegexValidator(
    r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", "Letters, digits, '_', '.' and '-', starting with a letter."
)


def new_link_token() -> str:
    """A tracking link's public token: 16 URL-safe characters, unguessable (links cannot be enumerated)."""
    return secrets.token_urlsafe(12)


class ConversionType(models.TextChoices):
    INSTALL = "install", "Install"
    REGISTRATION = "registration", "Registration"
    DEPOSIT = "deposit", "Deposit"


class PixelCurrency(models.TextChoices):
    """The currencies the reference's pixel accepts (`currency=eur|usd|gbp`), stored as ISO 4217 codes."""

    EUR = "EUR", "EUR"
    USD = "USD", "USD"
    GBP = "GBP", "GBP"


class Affiliate(LabelScopedModel):
    """A partner who sends traffic: an affiliate or a network. `code` is the id the operator's own systems know the
    affiliate by; it is what attribution writes into a player's `core_affiliate_id` (a number) or
    `core_affiliate_str` (anything else)."""

    code = models.CharField(
        max_length=64,
        validators=[RegexValidator(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", "Letters, digits, '_', '.' and '-'.")],
        help_text="The affiliate's id in your platform (e.g. 1042 or partner-network-x), unique in the label. A number "
        "goes to players' core_affiliate_id, anything else to core_affiliate_str.",
    )
    name = models.CharField(max_length=255, help_text="Name shown to staff.")
    contact_email = models.EmailField(blank=True, help_text="The affiliate manager's contact at the partner.")
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, help_text="An inactive affiliate's links redirect without tracking.")

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["label", "code"], name="affiliate_unique_code")]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Campaign(LabelScopedModel):
    """An affiliate's campaign for one brand (site): players who register through it are looked up in that brand."""

    affiliate = models.ForeignKey(Affiliate, on_delete=models.PROTECT, related_name="campaigns")
    brand = models.ForeignKey(
        "backoffice.Brand",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The site it promotes: a conversion's player_id is that brand's user id.",
    )
    name = models.CharField(max_length=255)
    is_active = models.BooleanField(default=True, help_text="An inactive campaign's links redirect without tracking.")

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["affiliate", "name"], name="campaign_unique_name")]
        db_table = "crm_affiliate_campaign"

    def __str__(self) -> str:
        return self.name


class TrackingLink(LabelScopedModel):
    """A link handed to the affiliate: `/track/{token}` mints a click id and redirects (302) to `landing_url` with
    the click id appended as `click_param` (the landing page passes it on to the pixel)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="links")
    name = models.CharField(max_length=255, help_text="e.g. Homepage banner 300x250.")
    token = models.CharField(
        max_length=32,
        unique=True,
        editable=False,
        default=new_link_token,
        help_text="The public part of the tracking URL (/track/{token}).",
    )
    landing_url = models.URLField(max_length=2000, help_text="Where the visitor is sent, http(s).")
    click_param = models.CharField(
        max_length=64,
        default="click_id",
        validators=[CLICK_PARAM_VALIDATOR],
        help_text="The query parameter the click id is appended as.",
    )
    is_active = models.BooleanField(default=True, help_text="An inactive link redirects without tracking.")

    class Meta:
        ordering = ["-id"]
        db_table = "crm_affiliate_link"

    def __str__(self) -> str:
        return self.name


class Click(models.Model):
    """A visit through a tracking link, identified by the click id (a uuid) the pixel reports conversions on.

    `affiliate` and `campaign` are copied from the link at click time: reports group by them without joins, and a
    click stays with the campaign it came through."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, help_text="The click id.")
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    link = models.ForeignKey(TrackingLink, on_delete=models.PROTECT, related_name="clicks")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="clicks")
    affiliate = models.ForeignKey(Affiliate, on_delete=models.PROTECT, related_name="clicks")
    created_at = models.DateTimeField(help_text="When the click happened (UTC).")
    landing_url = models.TextField(help_text="The URL the visitor was redirected to.")
    referrer = models.CharField(max_length=2000, blank=True, help_text="The Referer the browser sent, if any.")
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="The visitor's address.")
    user_agent = models.CharField(max_length=512, blank=True)
    params = models.JSONField(
        default=dict, blank=True, help_text="The other query parameters of the tracking URL (sub ids), passed on."
    )

    class Meta:
        ordering = ["-created_at"]
        db_table = "crm_affiliate_click"
        indexes = [
            models.Index(fields=["label", "-created_at"], name="click_label_created"),
            models.Index(fields=["affiliate", "created_at"], name="click_affiliate_created"),
            models.Index(fields=["campaign", "created_at"], name="click_campaign_created"),
        ]

    def __str__(self) -> str:
        return str(self.id)


class Conversion(models.Model):
    """An install, registration or deposit reported by the pixel on a click. Immutable once stored.

    Unique by (click, type, dedupe_key): an install or a registration happens once per click (key ''); a deposit's
    key is its `transaction_id`, or else a digest of the call's values, so the same call repeated is one deposit.
    A deposit's transaction_id is also unique in the label, whatever the click ("match events from different data
    streams")."""

    id = models.BigAutoField(primary_key=True)
    # The pixel's hot insert keeps few indexes and foreign-key checks: the click's key is checked (and its index is the
    # unique key's first column); label, campaign and affiliate are copied from that click in the same statement, and
    # the click's own keys hold them, so they need no check of their own; the composite indexes serve their lookups.
    label = models.ForeignKey(
        "backoffice.Label", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    click = models.ForeignKey(Click, on_delete=models.CASCADE, related_name="conversions", db_index=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="conversions", db_index=False, db_constraint=False
    )
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.PROTECT, related_name="conversions", db_index=False, db_constraint=False
    )
    type = models.CharField(max_length=16, choices=ConversionType.choices)
    occurred_at = models.DateTimeField(help_text="The pixel's `time`, or when it was received.")
    received_at = models.DateTimeField(help_text="When the pixel call was accepted (UTC).")
    player_ext_id = models.CharField(max_length=128, blank=True, help_text="The pixel's player_id.")
    player = models.ForeignKey(
        "crm.Player",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index below: most conversions have no player when they arrive
        help_text="The player of the campaign's brand with that id, once known.",
    )
    currency = models.CharField(max_length=3, blank=True, choices=PixelCurrency.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    transaction_id = models.CharField(max_length=128, blank=True)
    dedupe_key = models.CharField(max_length=160, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, help_text="The caller's address (browser pixels).")
    user_agent = models.CharField(max_length=512, blank=True)
    referrer = models.CharField(max_length=2000, blank=True)
    logged_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the conversion went into the event log as an affiliate_conversion event (once its player is "
        "known), so rules, segments and journeys can react to it.",
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        db_table = "crm_affiliate_conversion"
        constraints = [
            models.UniqueConstraint(fields=["click", "type", "dedupe_key"], name="conversion_unique_per_click"),
            models.UniqueConstraint(
                fields=["label", "transaction_id"],
                condition=Q(type="deposit") & ~Q(transaction_id=""),
                name="conversion_unique_deposit_txn",
            ),
            models.CheckConstraint(
                condition=Q(type="deposit") | (Q(amount__isnull=True) & Q(currency="")),
                name="conversion_amount_deposit_only",
            ),
        ]
        indexes = [
            models.Index(fields=["label", "-occurred_at"], name="conversion_label_occurred"),
            models.Index(fields=["affiliate", "occurred_at"], name="conversion_affiliate_occurred"),
            models.Index(fields=["campaign", "occurred_at"], name="conversion_campaign_occurred"),
            models.Index(
                fields=["label", "player_ext_id"], name="conversion_unlinked", condition=Q(player__isnull=True)
            ),
            models.Index(fields=["player"], name="conversion_player", condition=Q(player__isnull=False)),
            # What `conversions_log` has left to put into the event log: conversions of known players, not logged yet.
            models.Index(
                fields=["id"], name="conversion_unlogged", condition=Q(logged_at__isnull=True, player__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} on {self.click_id}"
