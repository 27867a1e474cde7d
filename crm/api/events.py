"""`POST /api/v1/events`: batch (up to 1,000) or single event ingest. Parsed with orjson, validated by plain
functions, written in bulk: no serializer runs per item on this hot path (the serializers below only document it)."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import ErrorSerializer, error_responses
from backoffice.api.serializers import StrictSerializer
from backoffice.errors import DomainError, DomainValidationError, PayloadTooLarge
from backoffice.models import ApiKey, Label, Perm
from crm.api.serializers import PlayerProfileInputSerializer
from crm.catalogue import (
    CORE_TYPE_NAMES,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    MAX_PAYLOAD_ENTRIES,
    PROFILE_UPDATE,
    SYSTEM_TYPES,
    TYPE_NAME_RE,
)
from crm.event_docs import TypeDoc, partner_types
from crm.models import EventSource
from crm.services.ingest import ACCEPTED, CONFLICT, DUPLICATE, MAX_BATCH, events_ingest
from crm.validators import MAX_ID_LENGTH


def _described(schema: dict[str, Any], **kwargs: Any) -> serializers.Field:
    """A field documented by its JSON schema (ingest validates it with crm.catalogue, not with this field)."""
    # A class per schema: DRF copies declared fields by re-instantiating them, which would drop an instance override.
    field_class = extend_schema_field(schema)(type("DescribedField", (serializers.JSONField,), {}))
    return field_class(**kwargs)


_ENVELOPE_HELP = {
    "event_id": "Your unique id of the event; for transactions the transaction or bet id.",
    "ext_brand_id": "Your brand id.",
    "user_ext_id": "Your id of the player; an unknown player is created.",
    "occurred_at": "When it happened: ISO 8601 (UTC if naive) or epoch milliseconds.",
}
_ID = {
    "oneOf": [{"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH}, {"type": "integer", "format": "int64"}]
}
_WHEN = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "format": "int64"}]}


def _envelope_fields() -> dict[str, serializers.Field]:
    return {
        name: _described(_WHEN if name == "occurred_at" else _ID, help_text=help_text)
        for name, help_text in _ENVELOPE_HELP.items()
    }


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _payload_serializer(doc: TypeDoc) -> serializers.Serializer:
    """The payload of a built-in type: its fields with their JSON types, required ones required, nothing else."""
    if doc.name == PROFILE_UPDATE:
        return PlayerProfileInputSerializer(help_text="The changed profile fields (at least one).")
    fields = {f.name: _described(f.json_schema(), required=f.required, help_text=f.description) for f in doc.fields}
    payload_doc = f"The payload of a {doc.name} event: {doc.description} Fields not listed here are refused."
    payload_class = type(
        f"{_camel(doc.name)}PayloadSerializer", (StrictSerializer,), {"__doc__": payload_doc, **fields}
    )
    required = [f.name for f in doc.fields if f.required]
    help_text = f"The fields of {doc.name}" + (f"; {', '.join(required)} required." if required else ".")
    return payload_class(required=bool(required), help_text=help_text)


def _event_serializer(doc: TypeDoc) -> type[serializers.Serializer]:
    """One event of a built-in type: the envelope, `type` set to the type's name, and the type's payload."""
    envelope = _envelope_fields()
    # A pattern, not a one-value enum: drf-spectacular turns enums into shared components named by property.
    kind = _described({"type": "string", "pattern": f"^{doc.name}$"}, help_text=f"`{doc.name}`: {doc.description}")
    fields = {"event_id": envelope.pop("event_id"), "type": kind, **envelope, "payload": _payload_serializer(doc)}
    event_doc = f"An event of type {doc.name}: {doc.description}"
    return type(f"{_camel(doc.name)}EventSerializer", (serializers.Serializer,), {"__doc__": event_doc, **fields})


def _custom_event_serializer(builtin: list[str]) -> type[serializers.Serializer]:
    envelope = _envelope_fields()
    kind = _described(
        {"type": "string", "pattern": TYPE_NAME_RE.pattern.replace("\\Z", "$"), "not": {"enum": builtin}},
        help_text="The name of a custom type registered for your label (admin: Event types).",
    )
    payload = serializers.DictField(
        required=False, help_text="The fields registered for the custom type, with their types; nothing else."
    )
    fields = {"event_id": envelope.pop("event_id"), "type": kind, **envelope, "payload": payload}
    event_doc = "An event of a custom type registered for your label; its payload holds that type's fields."
    return type("CustomEventSerializer", (serializers.Serializer,), {"__doc__": event_doc, **fields})


def event_schemas() -> PolymorphicProxySerializer:
    """The documented shape of one event: one schema per built-in type a partner may send, and one for custom types.

    Built when the schema is generated (`serializers` is a callable), so the types apps register at start-up are in.
    """

    def build() -> list[type[serializers.Serializer]]:
        docs = partner_types()
        builtin = sorted({*CORE_TYPE_NAMES, *SYSTEM_TYPES})
        return [*(_event_serializer(doc) for doc in docs), _custom_event_serializer(builtin)]

    return PolymorphicProxySerializer(
        component_name="Event",
        serializers=build,
        resource_type_field_name=None,
        many=True,
        help_text=f"Up to {MAX_BATCH} events. Each is one of the schemas below, chosen by its `type`.",
    )


class EventBatchInSerializer(serializers.Serializer):
    events = event_schemas()


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the batch.")
    event_id = serializers.CharField(allow_null=True, help_text="The event's id as sent.")
    status = serializers.ChoiceField(
        ["accepted", "duplicate", "conflict", "invalid"],
        help_text="accepted: stored; duplicate: the same event was stored before (harmless); conflict: the same id "
        "was stored with other content (kept out); invalid: see errors.",
    )
    errors = serializers.DictField(required=False, help_text="Field to messages, for invalid events.")


class BatchResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events stored now.")
    duplicate = serializers.IntegerField(help_text="Events stored before, with the same content.")
    conflict = serializers.IntegerField(help_text="Events whose id was stored before with other content.")
    invalid = serializers.IntegerField(help_text="Events refused; see their errors.")
    results = ItemResultSerializer(many=True, help_text="One result per event, in order.")


EXAMPLE = {
    "events": [
        {
            "event_id": "dep-9001",
            "type": "deposit",
            "ext_brand_id": "demo-casino",
            "user_ext_id": "42",
            "occurred_at": "2026-11-21T10:15:00.000Z",
            "payload": {"deposit_amount": 50, "deposit_method": "PaySafe"},
        }
    ]
}


def _parse(request) -> tuple[list, bool]:
    try:
        body = orjson.loads(request.body)
    except RequestDataTooBig as exc:
        raise PayloadTooLarge("The body is too large.") from exc
    except orjson.JSONDecodeError as exc:
        raise DomainError(f"The body is not valid JSON: {exc}", code="malformed_request") from exc
    if isinstance(body, list):
        return body, True
    if isinstance(body, dict) and "events" in body and set(body) == {"events"}:
        if not isinstance(body["events"], list):
            raise DomainValidationError({"events": ["Expected a list of events."]}, code="malformed_request")
        return body["events"], True
    if isinstance(body, dict):
        return [body], False
    raise DomainError('The body must be an event, a list of events or {"events": [...]}.', code="malformed_request")


class EventIngestView(APIView):
    """Events in. One bad event never rejects the batch; each gets its own result."""

    @extend_schema(
        tags=["events"],
        summary="Send events (a batch of up to 1,000, or one)",
        request=EventBatchInSerializer,
        examples=[OpenApiExample("A deposit", value=EXAMPLE, request_only=True)],
        responses={
            202: OpenApiResponse(
                PolymorphicProxySerializer(
                    component_name="EventIngestAccepted",
                    serializers=[BatchResultSerializer, ItemResultSerializer],
                    resource_type_field_name=None,
                ),
                description="A batch: one result per event. A single event: its result, accepted.",
            ),
            200: OpenApiResponse(ItemResultSerializer, description="A single event: duplicate, stored before."),
            409: OpenApiResponse(
                ItemResultSerializer, description="A single event: conflict, its id was stored with other content."
            ),
            **error_responses(400, 401, 403),
            413: OpenApiResponse(
                ErrorSerializer, description=f"More than {MAX_BATCH} events, or a body over the size limit."
            ),
        },
        description='Send `{"events": [...]}` or a JSON array for a batch: 202 with one result per event. '
        "Send a single event object for the single form: 202 accepted, 200 duplicate, 409 conflict, 400 invalid. "
        "Events are deduplicated by (type, event_id) within your label. "
        f"Limits of each event: `event_id`, `ext_brand_id` and `user_ext_id` are 1 to {MAX_ID_LENGTH} characters "
        "without control, invisible (zero-width) or bidirectional formatting characters, compared in Unicode NFC; "
        f"the payload is at most {MAX_PAYLOAD_BYTES // 1024} KiB, {MAX_PAYLOAD_DEPTH} levels deep and "
        f"{MAX_PAYLOAD_ENTRIES} keys and list items in all; numbers are finite, integers fit in 64 bits; a timestamp "
        "stays within years 1 to 9999 once in UTC. An event over a limit is `invalid` with the field named, and the "
        "rest of the batch is stored.",
    )
    def post(self, request):
        actor = request_actor(request)
        labels = actor.labels_with(Perm.PLAYER_WRITE)
        if len(labels) != 1:
            raise PermissionDenied("Events are sent with a partner API key of one label.")
        items, is_batch = _parse(request._request)
        if len(items) > MAX_BATCH:
            raise PayloadTooLarge(
                f"At most {MAX_BATCH} events per batch; got {len(items)}.", code="too_many_events"
            ) from None
        label_id = next(iter(labels))
        # A partner key arrives with its label loaded (authentication joined it): no query on the hot path.
        label = request.auth.label if isinstance(request.auth, ApiKey) else Label.objects.get(pk=label_id)
        result = events_ingest(label=label, items=items, source=EventSource.API)
        if is_batch:
            return Response({**result.counts(), "results": [i.as_dict() for i in result.items]}, status=202)
        item = result.items[0]
        if item.status == "invalid":
            raise DomainValidationError(item.errors)
        code = {ACCEPTED: 202, DUPLICATE: 200, CONFLICT: 409}[item.status]
        return Response(item.as_dict(), status=code)
