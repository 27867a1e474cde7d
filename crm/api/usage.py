"""Pitboss's own read API of usage analytics: customer accounts (with their usage) and usage users (with their
devices, push tokens masked). Writes come through the SmartKarrot-compatible /v4/usageanalytics/… endpoints."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from crm.filtersets_usage import CustomerAccountFilterSet, UsageUserFilterSet
from crm.models import CustomerAccount, CustomerAccountStatus, UsageUser, UsageUserKind, UsageUserStatus
from crm.selectors_usage import (
    account_usage,
    customer_account_for_actor,
    customer_accounts_for_actor,
    usage_user_for_actor,
    usage_users_for_actor,
)

TAGS = ["usage analytics"]


class CustomerAccountSerializer(serializers.ModelSerializer):
    account_id = serializers.CharField(read_only=True, help_text="Your id of the customer account.")
    app_id = serializers.CharField(read_only=True, help_text="The SmartKarrot app id it was last written through.")
    name = serializers.CharField(read_only=True, help_text="Name ('' for an account named only by other records).")
    status = serializers.ChoiceField(CustomerAccountStatus.choices, read_only=True, help_text="Active or Inactive.")
    product_ids = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="Product ids.")
    has_logo = serializers.SerializerMethodField(help_text="Whether a logo image was sent.")
    users_count = serializers.IntegerField(read_only=True, help_text="Usage users of the account.")
    last_seen_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="A user last seen (UTC).")
    created_at = serializers.DateTimeField(read_only=True, help_text="When Pitboss first heard of it (UTC).")
    updated_at = serializers.DateTimeField(read_only=True, help_text="When it last changed (UTC).")

    class Meta:
        model = CustomerAccount
        fields = ["account_id", "app_id", "name", "status", "product_ids", "has_logo", "users_count", "last_seen_at",
                  "created_at", "updated_at"]  # fmt: skip

    def get_has_logo(self, obj: CustomerAccount) -> bool:
        return bool(obj.logo)


class AccountUsageSerializer(serializers.Serializer):
    days = serializers.IntegerField(help_text="The window: the last N days.")
    users = serializers.IntegerField(help_text="Usage users of the account.")
    active_users = serializers.IntegerField(help_text="Users seen in the window.")
    events = serializers.IntegerField(help_text="Usage events of its users in the window.")
    sessions = serializers.IntegerField(help_text="Sessions started in the window.")
    mean_session_seconds = serializers.FloatField(allow_null=True, help_text="Mean length of the ended sessions.")


class CustomerAccountDetailSerializer(CustomerAccountSerializer):
    usage = serializers.SerializerMethodField(help_text="Usage over the last 30 days.")

    class Meta(CustomerAccountSerializer.Meta):
        fields = [*CustomerAccountSerializer.Meta.fields, "usage"]

    @extend_schema_field(AccountUsageSerializer)
    def get_usage(self, obj: CustomerAccount) -> dict:
        return AccountUsageSerializer(account_usage(account=obj)).data


class UsageDeviceSerializer(serializers.Serializer):
    device_id = serializers.CharField(help_text="The app's device id ('' when none was sent).")
    platform = serializers.CharField(help_text="iOS, Android, Web or ''.")
    attributes = serializers.DictField(child=serializers.CharField(), help_text="Device attributes.")
    token_masked = serializers.CharField(help_text="The push token's last four characters ('' when none).")
    token_updated_at = serializers.DateTimeField(allow_null=True, help_text="When the token was set (UTC).")
    app_in_distribution = serializers.BooleanField(allow_null=True, help_text="iOS: distribution (not sandbox).")


class PlayerRefSerializer(serializers.Serializer):
    ext_brand_id = serializers.CharField(source="brand.ext_brand_id", help_text="The player's brand.")
    user_ext_id = serializers.CharField(help_text="The player's id (GET /players/{ext_brand_id}/{user_ext_id}).")


class UsageUserSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="Pitboss's id of the usage user.")
    app_id = serializers.CharField(source="app.app_id", read_only=True, help_text="SmartKarrot app id.")
    user_id = serializers.CharField(read_only=True, help_text="SmartKarrot user id.")
    kind = serializers.ChoiceField(UsageUserKind.choices, read_only=True, help_text="AUTH (a player) or GUEST.")
    status = serializers.ChoiceField(UsageUserStatus.choices, read_only=True, help_text="Active or Inactive.")
    player = PlayerRefSerializer(read_only=True, allow_null=True, help_text="The player (AUTH users).")
    customer_account_id = serializers.CharField(
        source="customer_account.account_id", read_only=True, allow_null=True, help_text="Its customer account."
    )
    logged_in_as = serializers.CharField(
        source="merged_into.user_id", read_only=True, allow_null=True, help_text="A guest who logged in: the user."
    )
    platform = serializers.CharField(read_only=True, help_text="iOS, Android, Web or ''.")
    bundle_id = serializers.CharField(read_only=True, help_text="Package, bundle id or web domain.")
    last_session_id = serializers.CharField(read_only=True, help_text="The last session id seen.")
    last_device_id = serializers.CharField(read_only=True, help_text="The last device id seen.")
    attributes = serializers.DictField(read_only=True, help_text="name -> {dataType, value, loggedAtTime}.")
    devices = UsageDeviceSerializer(many=True, read_only=True, help_text="Its devices.")
    last_seen_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Last seen (UTC).")
    created_at = serializers.DateTimeField(read_only=True, help_text="First seen (UTC).")

    class Meta:
        model = UsageUser
        fields = ["id", "app_id", "user_id", "kind", "status", "player", "customer_account_id", "logged_in_as",
                  "platform", "bundle_id", "last_session_id", "last_device_id", "attributes", "devices",
                  "last_seen_at", "created_at"]  # fmt: skip


ACCOUNT_ID_PARAM = OpenApiParameter(
    "account_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Your id of the customer account."
)
USER_ID_PARAM = OpenApiParameter(
    "usage_user_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The usage user's id."
)


class CustomerAccountListView(ListAPIView):
    """Your label's customer accounts, newest first."""

    serializer_class = CustomerAccountSerializer
    filterset_class = CustomerAccountFilterSet

    def get_queryset(self):
        return customer_accounts_for_actor(actor=request_actor(self.request))

    @extend_schema(tags=TAGS, summary="List customer accounts",
                   responses={200: CustomerAccountSerializer(many=True), **error_responses(400, 401, 403)})  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class CustomerAccountDetailView(APIView):
    """One customer account with its usage over the last 30 days; another label's id is 404."""

    @extend_schema(tags=TAGS, summary="Retrieve a customer account", parameters=[ACCOUNT_ID_PARAM],
                   responses={200: CustomerAccountDetailSerializer, **error_responses(401, 403, 404)})  # fmt: skip
    def get(self, request, account_id: str):
        account = customer_account_for_actor(actor=request_actor(request), account_id=account_id)
        return Response(CustomerAccountDetailSerializer(account).data)


class UsageUserListView(ListAPIView):
    """Your label's usage users, newest first, with their devices."""

    serializer_class = UsageUserSerializer
    filterset_class = UsageUserFilterSet

    def get_queryset(self):
        return usage_users_for_actor(actor=request_actor(self.request)).prefetch_related("devices")

    @extend_schema(tags=TAGS, summary="List usage users",
                   responses={200: UsageUserSerializer(many=True), **error_responses(400, 401, 403)})  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class UsageUserDetailView(APIView):
    """One usage user; another label's id is 404."""

    @extend_schema(tags=TAGS, summary="Retrieve a usage user", parameters=[USER_ID_PARAM],
                   responses={200: UsageUserSerializer, **error_responses(401, 403, 404)})  # fmt: skip
    def get(self, request, usage_user_id: int):
        return Response(UsageUserSerializer(usage_user_for_actor(actor=request_actor(request), pk=usage_user_id)).data)
