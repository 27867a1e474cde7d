"""Serializers of the wallet API."""

from __future__ import annotations

from rest_framework import serializers

from backoffice.api.fields import StrictIntegerField
from backoffice.api.idempotency import MAX_IDEMPOTENCY_KEY
from backoffice.api.serializers import StrictSerializer
from gamification.models import Currency, Level, StoreCategory, StoreItem, StorePurchase, Wallet, WalletEntry
from gamification.services.wallet import MAX_REASON_LENGTH


class LevelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Level
        fields = ["id", "name", "required_points", "names", "descriptions", "image_url", "custom"]
        read_only_fields = fields


class WalletSerializer(serializers.ModelSerializer):
    level = LevelSerializer(read_only=True, allow_null=True, help_text="The player's level; null before any.")

    class Meta:
        model = Wallet
        fields = ["points", "points_earned", "points_tournament", "gems", "diamonds", "level"]
        read_only_fields = fields


class WalletEntrySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username",
        default=None,
        allow_null=True,
        read_only=True,
        help_text="Staff user who made a manual change; null for partners, missions and the system.",
    )

    class Meta:
        model = WalletEntry
        fields = ["id", "currency", "amount", "counts_as_earned", "source", "key", "reason", "created_by", "created_at"]
        read_only_fields = fields


class WalletAdjustmentInputSerializer(StrictSerializer):
    currency = serializers.ChoiceField(Currency.choices, help_text="Which balance: points, gems or diamonds.")
    amount = StrictIntegerField(
        min_value=-(2**62) + 1, max_value=2**62 - 1, help_text="Non-zero: positive credits, negative debits."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_REASON_LENGTH, help_text="Why, kept in the ledger."
    )
    idempotency_key = serializers.CharField(
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY,
        help_text="Your unique key of this adjustment (or send the `Idempotency-Key` header). A retry with the same "
        "key changes nothing and answers 200 with the first result.",
    )

    def validate_amount(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


class WalletAdjustmentResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the idempotency key was already used: nothing changed.")
    entry = WalletEntrySerializer(help_text="The ledger entry of this adjustment.")
    wallet = WalletSerializer(help_text="The player's balances after it.")


class StoreCategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = StoreCategory
        fields = ["id", "name", "position"]
        read_only_fields = fields


class StoreBonusSerializer(serializers.Serializer):
    """What a bonus item gives, as players see it."""

    name = serializers.CharField(source="display_name", read_only=True, help_text="The bonus's public name.")
    type = serializers.CharField(read_only=True, help_text="cash, free_spins, deposit_match or coupon.")
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, read_only=True, allow_null=True, help_text="Its value, if stated."
    )
    icon_url = serializers.CharField(read_only=True, help_text="Its icon (empty: none).")
    expiry_days = serializers.IntegerField(read_only=True, help_text="Days it stays usable once issued.")


class StoreItemSerializer(serializers.ModelSerializer):
    category = StoreCategorySerializer(read_only=True, allow_null=True, help_text="The item's shelf; null if none.")
    target_level = LevelSerializer(read_only=True, allow_null=True, help_text="The level a change-level item sets.")
    bonus = StoreBonusSerializer(
        source="bonus_template", read_only=True, allow_null=True, help_text="The bonus a bonus item gives; else null."
    )
    stock_left = serializers.IntegerField(
        source="stock", read_only=True, allow_null=True, help_text="Items left; null means unlimited."
    )
    cap_remaining = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Purchases left to the player in this cap period; null: no cap."
    )
    affordable = serializers.BooleanField(read_only=True, help_text="Whether the player's balance covers the price.")

    class Meta:
        model = StoreItem
        fields = [
            "id",
            "name",
            "description",
            "image_url",
            "type",
            "target_level",
            "bonus",
            "category",
            "price",
            "currency",
            "stock_left",
            "cap_count",
            "cap_period",
            "cap_remaining",
            "affordable",
            "active_till",
        ]
        read_only_fields = fields


class StorePurchaseInputSerializer(StrictSerializer):
    item_id = StrictIntegerField(min_value=1, help_text="The store item to buy.")
    idempotency_key = serializers.CharField(
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY,
        help_text="Your unique key of this purchase (or send the `Idempotency-Key` header). A retry with the same "
        "key buys nothing and answers 200 with the first purchase.",
    )


class StorePurchaseSerializer(serializers.ModelSerializer):
    item_id = serializers.IntegerField(read_only=True, help_text="The item bought.")
    item_name = serializers.CharField(source="item.name", read_only=True, help_text="Its name.")
    wallet_entry_id = serializers.IntegerField(read_only=True, help_text="The ledger entry of the debit.")
    refund_entry_id = serializers.IntegerField(
        read_only=True,
        allow_null=True,
        help_text="The ledger entry that paid the price back (status refunded: the bonus was never issued), or null.",
    )

    class Meta:
        model = StorePurchase
        fields = ["id", "item_id", "item_name", "price", "currency", "status", "key", "wallet_entry_id",
                  "refund_entry_id", "created_at"]  # fmt: skip
        read_only_fields = fields


class StorePurchaseResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the idempotency key was already used: nothing bought.")
    purchase = StorePurchaseSerializer(help_text="The purchase.")
    wallet = WalletSerializer(help_text="The player's balances now.")
