"""OpenAPI: our authenticators (registered by BackofficeConfig.ready), the error responses every endpoint shares, and
the schema class that documents them on every operation."""

from __future__ import annotations

import copy

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from backoffice.api.serializers import StrictSerializer


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "backoffice.api.authentication.ApiKeyAuthentication"
    name = ["ApiKeyAuth", "BasicApiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "Partner API key, sent as `Authorization: Api-Key <key>` (type `Api-Key <key>` here).",
            },
            {
                "type": "http",
                "scheme": "basic",
                "description": "HTTP Basic with user `apikey` and the API key as the password.",
            },
        ]


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "backoffice.api.authentication.StaffSessionAuthentication"
    name = "StaffSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Staff logged in to the admin act within their labels (CSRF token needed for writes).",
        }


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every endpoint."""

    code = serializers.CharField(
        help_text="Stable machine-readable code, e.g. invalid, not_found, authentication_failed."
    )
    message = serializers.CharField(help_text="What went wrong, for a person.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Field name to messages; empty when the error is not about a field.",
    )


# Answers any operation can give, whatever its view does: they come from authentication, content negotiation, the
# request sanitizer (NUL characters, non-UTF-8 queries), throttling and the database pool, before the view runs.
SHARED_ERRORS = {
    400: "Invalid input: the fields are named in `errors` (a body field, a query parameter, `path`, a header); "
    "nothing was changed.",
    401: "Missing, unknown or revoked API key.",
    403: "Authenticated, but not allowed (a staff role without the permission, or no label).",
    406: "The `Accept` header asks for something other than JSON.",
    429: "Too many requests from this API key or address: retry after `Retry-After` seconds.",
    503: "The service is busy (no database connection free in time): retry after `Retry-After` seconds.",
}
PATH_ERRORS = {404: "No such object in your label."}  # operations with path parameters
BODY_ERRORS = {  # operations with a request body
    413: "The body is over the size limit (`PITBOSS_MAX_REQUEST_BYTES`).",
    415: "The body is not `application/json`.",
}
DESCRIPTIONS = {
    **SHARED_ERRORS,
    **PATH_ERRORS,
    **BODY_ERRORS,
    409: "Conflict: the idempotency key was already used for a different request; nothing was changed.",
    422: "Valid, but refused by a business rule named in `code` (e.g. insufficient_balance); nothing was changed.",
}


def error_responses(*statuses: int) -> dict:
    """OpenAPI responses for error statuses particular to an endpoint (404, 409, 422); `AutoSchema` adds the shared
    ones to every operation."""
    return {status: OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[status]) for status in statuses}


RETRY_AFTER = {
    "schema": {"type": "integer", "minimum": 0},
    "required": True,
    "description": "Seconds to wait before trying again.",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema class, plus what clients generated from the schema need to accept every real answer:
    the shared error responses on every operation (with `Retry-After` on 429 and 503), no unknown keys in the bodies of
    strict input serializers, and `""` in the output of model fields that may be blank (drf-spectacular cannot see
    it: DRF drops `allow_blank` from read-only fields)."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, description in self._shared_errors().items():
            if str(status) not in responses:
                response = OpenApiResponse(ErrorSerializer, description=description)
                responses[str(status)] = self._get_response_for_code(response, str(status), direction=direction)
        return dict(sorted(responses.items()))

    def _shared_errors(self) -> dict[int, str]:
        errors = dict(SHARED_ERRORS)
        if "{" in self.path:
            errors.update(PATH_ERRORS)
        if self.method in {"POST", "PUT", "PATCH"}:
            errors.update(BODY_ERRORS)
        return errors

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if str(status_code) in {"429", "503"}:
            headers["Retry-After"] = RETRY_AFTER
        return headers

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False  # unknown keys are refused by name (400)
        return schema

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        return super()._map_serializer_field(_blank_allowed(field), direction, bypass_extensions)

    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(_blank_allowed(field), schema)  # a URL "or empty"


def _blank_allowed(field):
    """The field as the schema should see it: a read-only text model field with `blank=True` may render `""`."""
    if not _blank_model_output(field):
        return field
    field = copy.copy(field)  # the schema's view only; the serializer's own field is left alone
    field.allow_blank = True
    return field


def _blank_model_output(field) -> bool:
    """A read-only output field of a text model field with `blank=True`: it renders `""` when the row has none."""
    if not field.read_only or getattr(field, "allow_blank", True):
        return False
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or not field.source or "." in field.source:
        return False
    try:
        model_field = model._meta.get_field(field.source)
    except FieldDoesNotExist:
        return False
    return model_field.blank and isinstance(model_field, models.CharField | models.TextField)
