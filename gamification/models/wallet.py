"""The player's wallet: an append-only ledger of entries and the balances that always equal their sums."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedQuerySet


class Currency(models.TextChoices):
    POINTS = "points", "Points"
    GEMS = "gems", "Gems"
    DIAMONDS = "diamonds", "Diamonds"


class WalletSource(models.TextChoices):
    MISSION = "mission", "Mission"
    TOURNAMENT = "tournament", "Tournament"
    STORE = "store", "Store"
    RULE = "rule", "Rule"
    JOURNEY = "journey", "Journey"
    MANUAL = "manual", "Manual"
    API = "api", "API"
    REVERSAL = "reversal", "Reversal"


class WalletEntry(models.Model):
    """One change of one balance of a player: never updated nor deleted. `key` makes every change happen once."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="wallet_entries")
    currency = models.CharField(max_length=8, choices=Currency.choices, help_text="Points, gems or diamonds.")
    amount = models.BigIntegerField(help_text="Signed change: positive credits, negative debits; never zero.")
    counts_as_earned = models.BooleanField(
        default=True, help_text="A points credit that also raises the ever-earned and tournament balances."
    )
    source = models.CharField(max_length=16, choices=WalletSource.choices, help_text="What caused the change.")
    key = models.CharField(max_length=255, help_text="Unique per label: the same key never changes a balance twice.")
    reason = models.CharField(max_length=500, blank=True, help_text="Why, for the audit trail.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the change was recorded (UTC).")
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversal",
        help_text="The credit this entry takes back (a credit is reversed at most once).",
    )

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "wallet entries"
        constraints = [
            models.UniqueConstraint(fields=["label", "key"], name="wallet_entry_unique_key"),
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_entry_amount_not_zero"),
        ]
        indexes = [
            models.Index(fields=["player", "-id"], name="wallet_entry_player_idx"),
            # A staff member's credits of the day, for their daily cap: few rows, so a small partial index.
            models.Index(
                fields=["created_by", "created_at"],
                condition=Q(created_by__isnull=False),
                name="wallet_entry_staff_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount:+} {self.currency} ({self.source})"


class Wallet(models.Model):
    """A player's balances; changed only by `wallet_adjust`, in the same transaction as the entry."""

    player = models.OneToOneField("crm.Player", on_delete=models.PROTECT, primary_key=True, related_name="wallet")
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    points = models.BigIntegerField(default=0, help_text="Spendable points.")
    points_earned = models.BigIntegerField(default=0, help_text="Points ever earned; drives the level.")
    points_tournament = models.BigIntegerField(default=0, help_text="Points counted for tournaments and leaderboards.")
    gems = models.BigIntegerField(default=0)
    diamonds = models.BigIntegerField(default=0)
    level = models.ForeignKey(
        "gamification.Level",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The player's level: the higher of what the ever-earned points reach and `level_floor`.",
    )
    level_floor = models.ForeignKey(
        "gamification.Level",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="wallets_floored",
        help_text="A level bought in the store: the level never drops below it when points are recomputed.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(**{f"{column}__gte": 0}), name=f"wallet_{column}_not_negative")
            for column in ("points", "points_earned", "points_tournament", "gems", "diamonds")
        ]

    def __str__(self) -> str:
        return f"{self.points} points, {self.gems} gems, {self.diamonds} diamonds"
