"""Exchange rates: how a label converts its players' wallet currencies into its base currency."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

from backoffice.models.base import LabelScopedModel

CURRENCY_RE = r"^[A-Z]{3}$"
currency_code_validator = RegexValidator(CURRENCY_RE, "An ISO 4217 code in capitals, e.g. SEK.")

# Up to 16 integer digits and 12 decimals: a BTC-like rate (95000.5) and an IDR-like one (0.000057213918) both fit.
RATE_MAX_DIGITS = 28
RATE_DECIMAL_PLACES = 12


class ExchangeRate(LabelScopedModel):
    """One unit of `currency` is worth `rate` units of the label's base currency from `valid_from` (a calendar day
    in the label's time zone) until the next rate of the same currency. Rates are expressed in the base currency the
    label had when they were entered: the label's base currency cannot change while rates exist."""

    currency = models.CharField(
        max_length=3,
        validators=[currency_code_validator],
        help_text="ISO 4217 code of the converted currency, in capitals (e.g. SEK); never the label's base currency.",
    )
    rate = models.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        help_text="How many units of the label's base currency one unit of `currency` is worth (> 0), "
        "e.g. 0.087 for SEK in a EUR label.",
    )
    valid_from = models.DateField(
        help_text="First day (label time zone) the rate applies to; it applies until the next rate of the currency."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="Staff user who entered the rate (empty when entered through the API).",
    )
    api_key = models.ForeignKey(
        "backoffice.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="Partner API key that entered or last changed the rate (empty when entered in the admin).",
    )

    class Meta:
        ordering = ["currency", "-valid_from"]
        verbose_name = "exchange rate"
        constraints = [
            models.UniqueConstraint(
                fields=["label", "currency", "valid_from"], name="exchange_rate_one_per_currency_day"
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
            models.CheckConstraint(condition=models.Q(currency__regex=CURRENCY_RE), name="exchange_rate_iso_code"),
        ]

    def __str__(self) -> str:
        return f"1 {self.currency} = {self.rate.normalize() if self.rate is not None else '?'} from {self.valid_from}"
