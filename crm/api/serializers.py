"""Serializers of the player API. Input is validated by `crm.validators` (shared with ingest); these describe it."""

from __future__ import annotations

from rest_framework import serializers

from backoffice.api.serializers import StrictSerializer
from crm.models import AccountStatus, Gender, Player

PROFILE_OUTPUT_FIELDS = [
    "dt_update",
    "core_account_status",
    "core_registration_date",
    "core_user_language",
    "core_wallet_currency",
    "core_username",
    "user_birthdate",
    "user_country",
    "user_email",
    "user_first_name",
    "user_last_name",
    "user_phone",
    "core_affiliate_id",
    "core_affiliate_str",
    "core_is_email_disabled_by_platform",
    "core_is_sms_disabled_by_platform",
    "core_user_gender",
    "core_kyc_status",
    "custom",
    "markers",
]


class PlayerSerializer(serializers.ModelSerializer):
    ext_brand_id = serializers.CharField(source="brand.ext_brand_id", read_only=True, help_text="The brand's id.")
    label_key = serializers.CharField(source="label.label_key", read_only=True, help_text="The label's public key.")

    class Meta:
        model = Player
        fields = [
            "ext_brand_id",
            "user_ext_id",
            *PROFILE_OUTPUT_FIELDS,
            "ach_gamification_in_control_group",
            "label_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PlayerUpsertResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="True when the player did not exist and was created.")
    stale = serializers.BooleanField(
        help_text="True when every field sent was last set by an update with a later `dt_update`: nothing applied."
    )
    stale_fields = serializers.ListField(
        child=serializers.CharField(),
        help_text="Fields sent but kept as stored, because an update with a later `dt_update` set them "
        "(custom properties as custom.<name>).",
    )
    changed_fields = serializers.ListField(
        child=serializers.CharField(), help_text="Profile fields this request changed."
    )
    player = PlayerSerializer()


class _Timestamp(serializers.CharField):
    """ISO 8601 (UTC when naive) or epoch milliseconds."""


class PlayerProfileInputSerializer(StrictSerializer):
    """Profile fields; send only those that changed. `null` or "" clears an optional field."""

    dt_update = _Timestamp(
        required=False,
        help_text="When the profile changed at the source (default: now). Each field keeps the value of the update "
        "with the latest dt_update that carried it, so an older update still sets the fields no later one set.",
    )
    core_account_status = serializers.ChoiceField(AccountStatus.choices, required=False, help_text="Account status.")
    core_registration_date = _Timestamp(required=False, help_text="Registration time, UTC, in the past.")
    core_user_language = serializers.CharField(required=False, help_text="ISO 639-1, e.g. EN.")
    core_wallet_currency = serializers.CharField(
        required=False, help_text="ISO 4217, e.g. EUR. Cannot change once set."
    )
    core_username = serializers.CharField(required=False, help_text="Username or nickname.")
    user_birthdate = _Timestamp(required=False, help_text="Birth date, in the past.")
    user_country = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2, e.g. MT.")
    user_email = serializers.EmailField(required=False, allow_null=True, help_text="Email; encrypted at rest.")
    user_first_name = serializers.CharField(required=False)
    user_last_name = serializers.CharField(required=False)
    user_phone = serializers.CharField(required=False, allow_null=True, help_text="Phone, e.g. +35699123456.")
    core_affiliate_id = serializers.IntegerField(required=False, allow_null=True, help_text="Numeric affiliate id.")
    core_affiliate_str = serializers.CharField(required=False, help_text="Affiliate id when not numeric.")
    core_is_email_disabled_by_platform = serializers.BooleanField(required=False, help_text="Opted out of email.")
    core_is_sms_disabled_by_platform = serializers.BooleanField(required=False, help_text="Opted out of SMS.")
    core_user_gender = serializers.ChoiceField(Gender.choices, required=False)
    core_kyc_status = serializers.CharField(required=False, help_text="KYC status in your system.")
    custom = serializers.DictField(
        required=False,
        help_text="Custom properties: name to string, number or boolean, merged into the stored ones; a property "
        "set to null is removed, an empty object (or null) removes them all.",
    )
    markers = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Public tags; replaces the player's set."
    )


class PlayerUpsertInputSerializer(PlayerProfileInputSerializer):
    ext_brand_id = serializers.CharField(help_text="Your brand id.")
    user_ext_id = serializers.CharField(help_text="Your unique id of the player.")
    label_key = serializers.CharField(required=False, help_text="Only for staff whose labels share the brand id.")
