"""The store: items priced in one currency, bought with the wallet; each purchase debits and delivers at once."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet
from gamification.models.wallet import Currency


class StoreCategory(LabelScopedModel):
    """A shelf of the store: groups items for the front end, ordered by `position`."""

    name = models.CharField(max_length=120, help_text="Name shown to staff and players.")
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")

    class Meta:
        ordering = ["label", "position", "name"]
        verbose_name_plural = "store categories"
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="store_category_unique_name")]

    def __str__(self) -> str:
        return self.name


class StoreItemType(models.TextChoices):
    TANGIBLE = "tangible", "Tangible (fulfilled offline)"
    CHANGE_LEVEL = "change_level", "Change level"
    BONUS = "bonus", "Bonus (issued by the operator)"


class CapPeriod(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    EVER = "ever", "Ever"


class StoreItem(LabelScopedModel):
    """Something a player buys with one currency: a tangible good, a new level or an operator's bonus, with stock, caps
    and dates."""

    category = models.ForeignKey(
        StoreCategory, on_delete=models.SET_NULL, null=True, blank=True, related_name="items", help_text="Its shelf."
    )
    name = models.CharField(max_length=120, help_text="Name shown to staff and players.")
    description = models.TextField(blank=True, help_text="Shown to players.")
    image_url = models.URLField(blank=True, help_text="Image shown to players.")
    type = models.CharField(
        max_length=16,
        choices=StoreItemType.choices,
        help_text="Tangible (fulfilled offline), a level change, or a bonus issued by the operator.",
    )
    target_level = models.ForeignKey(
        "gamification.Level",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The level a change-level item sets.",
    )
    bonus_template = models.ForeignKey(
        "crm.BonusTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The bonus a bonus item gives (issued through the operator's Bonus API when bought).",
    )
    price = models.PositiveBigIntegerField(help_text="Price in the item's currency; above zero.")
    currency = models.CharField(max_length=8, choices=Currency.choices, help_text="Points, gems or diamonds.")
    stock = models.PositiveIntegerField(null=True, blank=True, help_text="Items left; empty means unlimited.")
    cap_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Purchases a player may make per cap period; empty means no cap."
    )
    cap_period = models.CharField(
        max_length=8, choices=CapPeriod.choices, blank=True, help_text="Calendar period (UTC) the cap counts in."
    )
    active_from = models.DateTimeField(null=True, blank=True, help_text="On sale from (empty: already).")
    active_till = models.DateTimeField(null=True, blank=True, help_text="On sale until (empty: no end).")
    audience = models.ForeignKey(
        "crm.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only players in this segment see and buy it (empty: every player). Checked live.",
    )
    is_active = models.BooleanField(default=True, help_text="Off hides the item and refuses purchases.")

    class Meta:
        ordering = ["label", "category__position", "price", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gt=0), name="store_item_price_positive"),
            models.CheckConstraint(condition=Q(stock__gte=0) | Q(stock__isnull=True), name="store_item_stock_gte_0"),
            models.CheckConstraint(
                condition=(Q(cap_count__isnull=True) & Q(cap_period="")) | (Q(cap_count__gt=0) & ~Q(cap_period="")),
                name="store_item_cap_count_and_period",
            ),
            models.CheckConstraint(
                condition=Q(type="change_level", target_level__isnull=False)
                | (Q(type__in=["tangible", "bonus"]) & Q(target_level__isnull=True)),
                name="store_item_target_level_iff_change_level",
            ),
            models.CheckConstraint(
                condition=Q(type="bonus", bonus_template__isnull=False)
                | (~Q(type="bonus") & Q(bonus_template__isnull=True)),
                name="store_item_bonus_template_iff_bonus",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if (self.cap_count is None) != (not self.cap_period):
            errors["cap_period"] = "Set both the cap count and its period, or neither."
        if self.type == StoreItemType.CHANGE_LEVEL and self.target_level_id is None:
            errors["target_level"] = "A change-level item needs a target level."
        if self.type != StoreItemType.CHANGE_LEVEL and self.target_level_id is not None:
            errors["target_level"] = "Only a change-level item has a target level."
        if self.type == StoreItemType.BONUS and self.bonus_template_id is None:
            errors["bonus_template"] = "A bonus item needs a bonus template."
        if self.type != StoreItemType.BONUS and self.bonus_template_id is not None:
            errors["bonus_template"] = "Only a bonus item has a bonus template."
        if self.bonus_template_id and self.label_id and self.bonus_template.label_id != self.label_id:
            errors["bonus_template"] = "The bonus template must belong to the item's label."
        if self.target_level_id and self.label_id and self.target_level.label_id != self.label_id:
            errors["target_level"] = "The level must belong to the item's label."
        if self.category_id and self.label_id and self.category.label_id != self.label_id:
            errors["category"] = "The category must belong to the item's label."
        if self.audience_id and self.label_id and self.audience.label_id != self.label_id:
            errors["audience"] = "The segment must belong to the item's label."
        if self.active_from and self.active_till and self.active_till <= self.active_from:
            errors["active_till"] = "Must be after the start."
        if errors:
            raise ValidationError(errors)


class PurchaseStatus(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    REFUNDED = "refunded", "Refunded"  # a bonus item whose bonus the operator never issued: the price was paid back


class StorePurchase(models.Model):
    """One purchase: the price paid (copied from the item), its wallet debit, its idempotency key, and the refund of a
    bonus item whose bonus failed to issue."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="store_purchases")
    item = models.ForeignKey(StoreItem, on_delete=models.PROTECT, related_name="purchases")
    price = models.PositiveBigIntegerField(help_text="Price paid.")
    currency = models.CharField(max_length=8, choices=Currency.choices, help_text="Currency paid in.")
    # Null only inside the purchase's transaction: the key is claimed before the debit it names is written.
    wallet_entry = models.OneToOneField(
        "gamification.WalletEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The debit that paid.",
    )
    status = models.CharField(max_length=16, choices=PurchaseStatus.choices, default=PurchaseStatus.DELIVERED)
    refund_entry = models.OneToOneField(
        "gamification.WalletEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The credit that paid the price back (a bonus the operator never issued).",
    )
    key = models.CharField(max_length=255, help_text="Unique per label: a retry with the same key buys nothing.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was bought (UTC).")

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["label", "key"], name="store_purchase_unique_key")]
        indexes = [models.Index(fields=["player", "item", "created_at"], name="store_purchase_cap_idx")]

    def __str__(self) -> str:
        return f"{self.item} for {self.price} {self.currency}"
