"""The sandbox operator's Bonus API (served under /sandbox/ when PITBOSS_SANDBOX is on): its behaviour per label, and
the bonuses it applied, so that tests and the demo can count what the "operator" really did."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel

DEFAULT_CATALOGUE = [
    {"code": "10FREE_SPIN_IN_GOLDEN_SLOT", "name": "10 free spins (Golden Slot)", "type": "free_spins", "amount": "10"},
    {"code": "CASH_5_EUR", "name": "5 EUR cash", "type": "cash", "amount": "5.00"},
    {"code": "DEPOSIT_MATCH_100", "name": "100% deposit match", "type": "deposit_match", "amount": "100"},
    {"code": "WELCOME_COUPON", "name": "Welcome coupon", "type": "coupon", "amount": None, "expiry_days": 30},
]


def default_catalogue() -> list[dict]:
    return [dict(item) for item in DEFAULT_CATALOGUE]


class SandboxBonusSettings(LabelScopedModel):
    """How the sandbox operator behaves for one label: its secret, its catalogue, latency and failure rates."""

    secret = EncryptedTextField(help_text="The Bearer token it expects, and sends with redeem callbacks.")
    callback_url = models.URLField(
        max_length=500, blank=True, help_text="Pitboss's redeem callback for this label (empty: no callbacks)."
    )
    catalogue = models.JSONField(
        default=default_catalogue,
        blank=True,
        help_text='Bonuses it offers: [{"code", "name", "type", "amount", "expiry_days", "icon_url"}].',
    )
    latency_ms = models.PositiveIntegerField(default=0, help_text="Added to every answer.")
    failure_rate = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of issue calls answered 500 without applying anything (0-1).",
    )
    timeout_rate = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of issue calls that apply the bonus, then hang past the caller's timeout (0-1).",
    )
    hang_seconds = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=15,
        validators=[MinValueValidator(0), MaxValueValidator(120)],
        help_text="How long a timed-out call hangs before it answers.",
    )

    class Meta:
        verbose_name = "sandbox Bonus API"
        verbose_name_plural = "sandbox Bonus API"
        constraints = [
            models.UniqueConstraint(fields=["label"], name="sandbox_bonus_settings_one_per_label"),
            models.CheckConstraint(
                condition=Q(failure_rate__gte=0, failure_rate__lte=1, timeout_rate__gte=0, timeout_rate__lte=1),
                name="sandbox_bonus_rates_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"Sandbox Bonus API of {self.label}" if self.label_id else "Sandbox Bonus API"


class SandboxBonusStatus(models.TextChoices):
    ISSUED = "issued", "Issued"
    REDEEMED = "redeemed", "Redeemed"
    REDEEM_FAILED = "redeem_failed", "Redeem failed"


class SandboxBonus(LabelScopedModel):
    """A bonus the sandbox operator applied: one per idempotency key (a repeated key returns this row)."""

    idempotency_key = models.CharField(max_length=128, help_text="The key Pitboss sent.")
    operator_bonus_id = models.CharField(max_length=64, help_text="The sandbox's own id of the bonus.")
    bonus_code = models.CharField(max_length=128, help_text="The catalogue code applied.")
    ext_brand_id = models.CharField(max_length=64, help_text="The player's brand.")
    user_ext_id = models.CharField(max_length=128, help_text="The player.")
    pitboss_bonus_id = models.BigIntegerField(null=True, blank=True, help_text="Pitboss's id of the bonus (bonus_id).")
    amount = models.CharField(max_length=32, blank=True, help_text="The amount sent, if any.")
    status = models.CharField(max_length=16, choices=SandboxBonusStatus.choices, default=SandboxBonusStatus.ISSUED)
    issue_calls = models.PositiveIntegerField(default=1, help_text="Issue calls received with this key.")

    class Meta:
        ordering = ["-id"]
        verbose_name = "sandbox applied bonus"
        constraints = [
            models.UniqueConstraint(fields=["label", "idempotency_key"], name="sandbox_bonus_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.bonus_code} for {self.user_ext_id}"
