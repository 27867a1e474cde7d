"""Serializers of the wallet API."""

from __future__ import annotations

from rest_framework import serializers

from gamification.models import Currency, Level, Wallet, WalletEntry
from gamification.services.wallet import MAX_REASON_LENGTH

MAX_IDEMPOTENCY_KEY = 200


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
        source="created_by.username", default=None, read_only=True, help_text="Staff user who made a manual change."
    )

    class Meta:
        model = WalletEntry
        fields = ["id", "currency", "amount", "counts_as_earned", "source", "key", "reason", "created_by", "created_at"]
        read_only_fields = fields


class WalletAdjustmentInputSerializer(serializers.Serializer):
    currency = serializers.ChoiceField(Currency.choices, help_text="Which balance: points, gems or diamonds.")
    amount = serializers.IntegerField(
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
