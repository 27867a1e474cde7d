"""OpenAPI descriptions of our authenticators (imported by BackofficeConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
