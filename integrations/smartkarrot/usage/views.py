"""The SmartKarrot-compatible usage analytics endpoints (reference/smartkarrot-api.txt, Option B: REST API).

Each view parses its body with plain functions (parse.py), then calls the usage services inside
`usage_request_once`, so a call with an `idempotencyId` already answered gets that answer again
(docs/usage-analytics.md).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from crm.models import UsageUserKind
from crm.services import usage as usage_services
from crm.services.usage import Attribute, EventsRefused, Seen
from integrations.smartkarrot.envelope import (
    SCHEMA_TAG,
    EnvelopeSerializer,
    SmartKarrotView,
    Status,
    envelope,
    invalid,
)
from integrations.smartkarrot.usage import parse, schema
from integrations.smartkarrot.usage.translate import usage_events

MAX_LOGO_BYTES = 3 * 1024 * 1024
_IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


class OrjsonParser(JSONParser):
    """JSON bodies read by orjson (a batch of events parses several times faster); lone surrogates are refused."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            return orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"The body is not valid JSON: {exc}") from None


class UsageView(SmartKarrotView):
    """One usage endpoint: parse, then do the work once per idempotencyId."""

    parser_classes = [OrjsonParser]
    schema = schema.UsageAutoSchema()
    endpoint = ""

    def work(self, parsed: Any) -> dict[str, Any]:
        """Do what the request asks; return the SUCCESS answer's extra fields."""
        raise NotImplementedError

    def parse(self, data: Any) -> Any:
        raise NotImplementedError

    def post(self, request: Request) -> Response:
        try:
            parsed = self.parse(request.data)
        except parse.Invalid as exc:
            return invalid(exc.errors)
        key = parsed.idempotency_id if hasattr(parsed, "idempotency_id") else parsed.caller.idempotency_id
        # The body's digest tells a retry from another request under the same key: without a key, nothing reads it.

        def work() -> tuple[int, dict]:
            return 200, envelope(Status.SUCCESS, **self.work(parsed))

        try:
            status, body = usage_services.usage_request_once(
                label_id=self.label_id, endpoint=self.endpoint, idempotency_id=key,
                digest=usage_services.body_digest(data=request.data) if key else "", work=work,
            )  # fmt: skip
        except (parse.Invalid, EventsRefused) as exc:
            return invalid(exc.errors)
        return Response(body, status=status)

    def user(self, caller: parse.Caller, **seen: str):
        app = usage_services.usage_app_resolve(label_id=self.label_id, app_id=caller.app_id)
        return usage_services.usage_user_touch(
            app=app,
            user_id=caller.user_id,
            seen=Seen(platform=caller.platform, session_id=caller.session_id, device_id=caller.device_id,
                      customer_account_id=caller.customer_account_id, **seen),
        )  # fmt: skip


def _schema(
    summary: str, description: str, example: dict[str, Any], request: type, response: type = EnvelopeSerializer
):
    return extend_schema(
        tags=[SCHEMA_TAG],
        summary=summary,
        description=description + " See docs/usage-analytics.md.",
        request=request,
        responses={200: response},
        examples=[OpenApiExample("Sample request", value=example, request_only=True)],
    )


class CustomerView(UsageView):
    endpoint = "customer"

    def parse(self, data: Any) -> parse.CustomerIn:
        return parse.customer(data)

    def work(self, parsed: parse.CustomerIn) -> dict[str, Any]:
        logo, content_type = _logo(parsed.logo)
        usage_services.usage_customer_upsert(
            label_id=self.label_id, account_id=parsed.account_id, app_id=parsed.app_id, name=parsed.name,
            status=parsed.status, product_ids=parsed.product_ids, logo=logo, logo_content_type=content_type,
        )  # fmt: skip
        return {}

    @_schema(
        "Create or update customer account",
        "Creates the customer account or updates it, by accountId.",
        {
            "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
            "accountId": "de8327c8-ece7-427a-ba8f-e4c7809ea716",
            "name": "SmartKarrot",
            "productIds": ["91ed7505-f106-4e03-b88b-63b76693f391"],
            "status": "Active",
        },
        schema.UsageCustomerSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)


def _logo(encoded: str | None) -> tuple[bytes | None, str]:
    """The logo's bytes and type; None (keep the stored one) when absent or empty."""
    if not encoded:
        return None, ""
    if "," in encoded[:100] and encoded.startswith("data:"):
        encoded = encoded.split(",", 1)[1]  # a data URL
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise parse.Invalid({"base64EncodedLogoImage": ["Not valid base64."]}) from None
    if len(raw) >= MAX_LOGO_BYTES:
        raise parse.Invalid({"base64EncodedLogoImage": ["The image must be less than 3 MB."]})
    content_type = next((kind for magic, kind in _IMAGE_TYPES if raw.startswith(magic)), "")
    if not content_type and raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        content_type = "image/webp"
    if not content_type:
        raise parse.Invalid({"base64EncodedLogoImage": ["Expected a PNG, JPEG, GIF or WebP image."]})
    return raw, content_type


class UserView(UsageView):
    endpoint = "user"

    def parse(self, data: Any) -> parse.UserIn:
        return parse.user(data)

    def work(self, parsed: parse.UserIn) -> dict[str, Any]:
        caller = parsed.caller
        app = usage_services.usage_app_resolve(label_id=self.label_id, app_id=caller.app_id)
        seen = Seen(platform=caller.platform, session_id=caller.session_id, device_id=caller.device_id,
                    customer_account_id=caller.customer_account_id, kind=parsed.kind, status=parsed.status,
                    bundle_id=parsed.bundle_id)  # fmt: skip
        usage_services.usage_user_register(
            app=app, user_id=caller.user_id, seen=seen, last_logged_in_user_id=parsed.last_logged_in_user_id
        )
        return {}

    @_schema(
        "Create or update user",
        "Creates the app's user or updates it: AUTH users are players of the app's "
        "brand; GUEST users' events are held until an AUTH user names them as lastLoggedInUserId.",
        {
            "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
            "customerAccountId": "de8327c8-ece7-427a-ba8f",
            "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
            "status": "Active",
            "platform": "iOS",
            "loginMechanism": UsageUserKind.AUTHENTICATED,
            "idempotencyId": "0b6f1c1e-7a4e-4c1b-9d55-2f1d7c3a9e10",
        },
        schema.UsageUserSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)


class EventView(UsageView):
    endpoint = "event"

    def parse(self, data: Any) -> parse.EventsIn:
        return parse.events(data, timezone.now())

    def work(self, parsed: parse.EventsIn) -> dict[str, Any]:
        events = usage_events(parsed)
        user = self.user(parsed.caller)
        result = usage_services.usage_events_log(user=user, events=events)
        return {"accepted": result.accepted, "duplicate": result.duplicate, "held": result.held}

    @_schema(
        "Log custom events",
        "Logs events (app_session_start, app_session_end, page_load_event or any name) "
        "into Pitboss's event log. The answer counts the events stored now (accepted), already stored "
        "(duplicate), and held for a guest (held).",
        {
            "events": [
                {
                    "name": "Purchase Product",
                    "loggedAtTime": "2020-03-28T12:07:58.165Z",
                    "parameters": [{"attributeName": "Module", "dataType": "String", "stringValue": "Product"}],
                }
            ],
            "userId": "28f05cea-4721-0818-2a7c-a88b102012fa",
            "appId": "a8548489-6d1d-44c4-b068-061f48c9f93c",
            "platform": "Web",
            "customerAccountId": "35373-67203-62612-15373-63900-1440",
        },
        schema.UsageEventsSerializer,
        schema.UsageEventsResultSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)


class UserAttributeView(UsageView):
    endpoint = "user/attribute"

    def parse(self, data: Any) -> parse.UserAttributesIn:
        return parse.user_attributes(data, timezone.now())

    def work(self, parsed: parse.UserAttributesIn) -> dict[str, Any]:
        user = self.user(parsed.caller)
        attributes = [Attribute(a.value.name, a.value.data_type, a.value.value, a.logged_at) for a in parsed.attributes]
        usage_services.usage_user_attributes_set(user=user, attributes=attributes)
        return {}

    @_schema(
        "Set user attributes",
        "Keeps the user's attributes (a later loggedAtTime wins) and copies them to the "
        "player's custom properties (usage_<name>).",
        {
            "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
            "platform": "Web",
            "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
            "userAttributes": [
                {
                    "name": "Region",
                    "dataType": "String",
                    "stringValue": "US",
                    "loggedAtTime": "2018-12-14T07:46:31.565Z",
                }
            ],
        },
        schema.UsageUserAttributesSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)


class DeviceAttributeView(UsageView):
    endpoint = "device/attribute"

    def parse(self, data: Any) -> parse.DeviceAttributesIn:
        return parse.device_attributes(data)

    def work(self, parsed: parse.DeviceAttributesIn) -> dict[str, Any]:
        user = self.user(parsed.caller)
        usage_services.usage_device_attributes_set(
            user=user, device_id=parsed.caller.device_id, platform=parsed.caller.platform, attributes=parsed.attributes
        )
        return {}

    @_schema(
        "Log device attributes",
        "Merges the attributes into the user's device (deviceId).",
        {
            "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
            "platform": "Web",
            "deviceId": "53e11019-8034-496b-a484-fa978918873c",
            "idempotencyId": "9890BDAA-CF16-4A08-A8F7-9F680D9ADEBA",
            "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
            "deviceAttributes": {"Make": "Apple"},
        },
        schema.UsageDeviceAttributesSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)


class DeviceTokenView(UsageView):
    endpoint = "device/token"

    def parse(self, data: Any) -> parse.DeviceTokenIn:
        return parse.device_token(data)

    def work(self, parsed: parse.DeviceTokenIn) -> dict[str, Any]:
        user = self.user(parsed.caller)
        usage_services.usage_device_token_set(
            user=user, device_id=parsed.caller.device_id, platform=parsed.caller.platform, token=parsed.token,
            app_in_distribution=parsed.app_in_distribution,
        )  # fmt: skip
        return {}

    @_schema(
        "Set device token",
        "Stores the device's push token (FCM or APNs), encrypted.",
        {
            "appId": "4ed062f1-fc38-4f32-a714-b63dc5399626",
            "platform": "iOS",
            "deviceId": "53e11019-8034-496b-a484-fa978918873c",
            "idempotencyId": "9890BDAA-CF16-4A08-A8F7-9F680D9ADEBA",
            "userId": "8f2dfb97-fe4b-49b3-a5d5-a671335cde00",
            "deviceToken": "740f4707 bebcf74f 9b7c25d4",
            "appInDistribution": True,
        },
        schema.UsageDeviceTokenSerializer,
    )
    def post(self, request: Request) -> Response:  # fmt: skip
        return super().post(request)
