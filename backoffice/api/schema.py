"""OpenAPI: our authenticators (registered by BackofficeConfig.ready) and the error responses every endpoint shares."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


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


def error_responses(*statuses: int) -> dict:
    """OpenAPI responses for the error statuses an endpoint can answer, besides its success response."""
    descriptions = {
        400: "Invalid input: the fields are named in `errors`; nothing was changed.",
        401: "Missing, unknown or revoked API key.",
        403: "Authenticated, but not allowed (a staff role without the permission, or no label).",
        404: "No such object in your label.",
        409: "Conflict: the idempotency key was already used for a different request; nothing was changed.",
        422: "Valid, but refused by a business rule named in `code` (e.g. insufficient_balance); nothing was changed.",
    }
    return {status: OpenApiResponse(ErrorSerializer, description=descriptions[status]) for status in statuses}
