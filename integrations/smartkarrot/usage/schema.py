"""The OpenAPI description of the usage endpoints: request bodies as the reference lists them, every answer in the
envelope. Documentation only: the bodies are parsed by parse.py (plain functions, fast on big event batches)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.smartkarrot.envelope import EnvelopeSerializer
from integrations.smartkarrot.schema import EnvelopeAutoSchema

_PLATFORM = ["iOS", "Android", "Web"]
_TYPES = ["String", "Number", "Date", "Boolean"]


class UsageAutoSchema(EnvelopeAutoSchema):
    """Every usage endpoint takes an `idempotencyId`, whose reuse for another body answers 409."""

    extra_errors = (409,)


def _one_of(values: list[str], help_text: str, **kwargs) -> serializers.Field:
    """A text that is one of `values`, documented by a pattern: an enum would collide by name with other components'
    `status` and `platform` enums (drf-spectacular names enums by property)."""
    schema = {"type": "string", "pattern": f"^({'|'.join(values)})$"}
    field_class = extend_schema_field(schema)(type("OneOfField", (serializers.CharField,), {}))
    return field_class(help_text=help_text, **kwargs)


def _s(help_text: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(help_text=help_text, **kwargs)


def _opt(help_text: str) -> serializers.CharField:
    return serializers.CharField(required=False, help_text=help_text)


class _Caller(serializers.Serializer):
    appId = _s("SmartKarrot app id; mapped to a brand (admin: Usage analytics → Apps).")
    userId = _s("Your user id: the player's user_ext_id (AUTH), or a guest's UUID.")
    platform = _one_of(_PLATFORM, "iOS, Android or Web (any case).")
    sessionId = _opt("Client session id.")
    deviceId = _opt("Client device id.")
    idempotencyId = _opt("Unique key of the request (v4 UUID recommended): a replay answers as the first call.")


class UsageCustomerSerializer(serializers.Serializer):
    appId = _s("SmartKarrot app id.")
    accountId = _s("The customer account id in your system.")
    name = _s("Name of the customer account.")
    base64EncodedLogoImage = _opt("PNG, JPEG, GIF or WebP image, base64-encoded, under 3 MB.")
    productIds = serializers.ListField(child=serializers.CharField(), required=False, help_text="Product ids.")
    status = _one_of(["Active", "Inactive"], "Active or Inactive.")
    idempotencyId = _opt("Unique key of the request: a replay answers as the first call.")


class UsageUserSerializer(_Caller):
    customerAccountId = _s("The user's customer account id (created bare if new).")
    status = _one_of(["Active", "Inactive"], "Active or Inactive.")
    loginMechanism = _one_of(["AUTH", "GUEST"], "AUTH: a user of yours (a player); GUEST.")
    bundleId = _opt("Android package name, iOS bundle id or web domain.")
    lastLoggedInUserId = _opt("AUTH only: the guest this user was; its held events move to this user.")


class UsageParameterSerializer(serializers.Serializer):
    attributeName = _s("Event attribute name, unique in the event.")
    dataType = _one_of(_TYPES, "String, Number, Date or Boolean (Bool too).")
    stringValue = _opt("String and Date (ISO 8601) values.")
    numberValue = serializers.FloatField(required=False, help_text="Number values.")
    booleanValue = serializers.BooleanField(required=False, help_text="Boolean values.")


class UsageEventSerializer(serializers.Serializer):
    name = _s("Event name; app_session_start, app_session_end and page_load_event have required parameters.")
    loggedAtTime = serializers.DateTimeField(help_text="When it happened, ISO 8601 (not in the future).")
    parameters = UsageParameterSerializer(many=True, required=False, help_text="Up to 25 typed parameters.")


class UsageEventsSerializer(_Caller):
    events = UsageEventSerializer(many=True, help_text="1 to 1,000 events.")
    customerAccountId = _s("The user's customer account id.")
    productId = _opt("SmartKarrot product id.")
    appVersion = _opt("The app's version.")
    userSourceIP = _opt("The user's IP address.")


class UsageUserAttributeItemSerializer(serializers.Serializer):
    name = _s("User attribute name.")
    dataType = _one_of(_TYPES, "String, Number, Date or Boolean.")
    loggedAtTime = serializers.DateTimeField(help_text="When it was set, ISO 8601; a later one wins.")
    stringValue = _opt("String and Date (ISO 8601) values.")
    numberValue = serializers.FloatField(required=False, help_text="Number values.")
    booleanValue = serializers.BooleanField(required=False, help_text="Boolean values.")


class UsageUserAttributesSerializer(_Caller):
    userAttributes = UsageUserAttributeItemSerializer(many=True, help_text="1 to 200 attributes.")
    customerAccountId = _opt("The user's customer account id.")


class UsageDeviceAttributesSerializer(_Caller):
    deviceAttributes = serializers.DictField(
        child=serializers.CharField(), help_text="Attribute name -> string, e.g. Make, Model, OS Version."
    )


class UsageDeviceTokenSerializer(_Caller):
    deviceToken = _s("FCM or APNs device token; stored encrypted.")
    appInDistribution = serializers.BooleanField(
        required=False, help_text="Required on iOS: true when the app runs in distribution mode."
    )


class UsageEventsResultSerializer(EnvelopeSerializer):
    accepted = serializers.IntegerField(help_text="Events stored now.")
    duplicate = serializers.IntegerField(
        help_text="Events stored before (a resent event): acknowledged, not stored twice."
    )
    held = serializers.IntegerField(help_text="Events of a guest, held until it logs in.")
