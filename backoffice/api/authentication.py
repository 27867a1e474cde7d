"""API authentication: partner keys (`Authorization: Api-Key <key>` or Basic `apikey:<key>`) and staff sessions."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header

from backoffice.api.throttling import failed_auth_check, failed_auth_record
from backoffice.models import ApiKey
from backoffice.scoping import Actor, actor_for_api_key, actor_for_request
from backoffice.services.apikeys import api_key_check


@dataclass(frozen=True)
class ApiClient:
    """The `request.user` of a call made with a partner API key."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_staff: bool = False
    is_active: bool = True
    pk: None = None

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


def _raw_key(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "api-key":
        return credentials.strip()
    if scheme != "basic":
        return None
    try:
        user, _, password = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
    if user != "apikey":
        raise exceptions.AuthenticationFailed("Basic auth user must be 'apikey', with the API key as the password.")
    return password


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a partner by API key; the key acts only inside its label.

    Failed attempts are counted per client address; past the limit the address gets 429 before any key is looked up.
    """

    def authenticate(self, request):
        header = get_authorization_header(request)
        if not header:
            return None
        failed_auth_check(request)
        try:
            return self._authenticate(header)
        except exceptions.AuthenticationFailed:
            failed_auth_record(request)
            raise

    def _authenticate(self, header_bytes: bytes):
        try:
            header = header_bytes.decode("latin-1")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Malformed Authorization header.") from exc
        raw = _raw_key(header)
        if raw is None:
            return None
        key = api_key_check(raw=raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown API key.")
        if not key.is_active:
            raise exceptions.AuthenticationFailed("This API key was revoked.")
        if not key.label.is_active:
            raise exceptions.AuthenticationFailed("The label of this API key is inactive.")
        return ApiClient(api_key=key), key

    def authenticate_header(self, request) -> str:
        return 'Api-Key realm="api"'


class StaffSessionAuthentication(SessionAuthentication):
    """Staff logged in to the admin may use the API (and try it from /api/docs/) within their labels."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None or not result[0].is_staff:
            return None
        return result


def request_actor(request) -> Actor:
    """The actor of an API request: the key's label, or the staff user's labels."""
    if isinstance(request.auth, ApiKey):
        return actor_for_api_key(request.auth)
    return actor_for_request(request._request)
