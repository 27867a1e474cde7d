"""The SmartKarrot family's envelope and authentication, shared by its usage, financial and tickets endpoints.

Every answer is a JSON object with `status`:
- `SUCCESS` (200, or 201 where the reference creates), with the endpoint's own fields beside it;
- `INVALID_INPUT` (400): the body or query is malformed or a field is invalid; `errors` maps each field to its
  messages and `message` names them. Nothing was changed.
- `ERROR`: any other failure, with its HTTP status: 401 (no or bad key; `WWW-Authenticate: Basic`), 403, 404, 405,
  409 (a version conflict), 413, 415, 429 (with `Retry-After`).

Keys the reference does not list are ignored, not refused: clients of the original service may send fields it
accepted silently (its own curl example posts `productId` to orders). See docs/smartkarrot.md.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import ApiKeyAuthentication
from backoffice.api.exceptions import _flatten
from backoffice.errors import DomainError
from backoffice.models import ApiKey

SCHEMA_TAG = "SmartKarrot-compatible"
# The paths of the family (and of the conversion pixel): CORS is open on them (backoffice/settings: CORS_URLS_REGEX),
# and Django's own 404/500 pages answer there in the envelope (backoffice/urls.py).
PATH_PREFIXES = ("/v4/", "/dashboards/v4/")


class Status(StrEnum):
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    INVALID_INPUT = "INVALID_INPUT"


def envelope(status: Status, message: str | None = None, errors: dict | None = None, **fields: Any) -> dict:
    body: dict[str, Any] = {"status": str(status)}
    if message is not None:
        body["message"] = message
    if errors:
        body["errors"] = errors
    body.update(fields)
    return body


def success(http_status: int = 200, **fields: Any) -> Response:
    return Response(envelope(Status.SUCCESS, **fields), status=http_status)


def invalid(errors: dict[str, list[str]], http_status: int = 400) -> Response:
    """An INVALID_INPUT answer naming the fields (for views that validate by hand)."""
    return Response(
        envelope(Status.INVALID_INPUT, f"Invalid value for: {', '.join(sorted(errors))}.", errors), status=http_status
    )


def exception_handler(exc, context):
    """DRF's exceptions as the family's envelope; anything else is a bug, left to Django (logged, 500)."""
    if isinstance(exc, RequestDataTooBig):
        return Response(envelope(Status.ERROR, "The body is too large."), status=413)
    if isinstance(exc, DomainError):
        kind = Status.INVALID_INPUT if exc.status_code in (400, 422) else Status.ERROR
        body = envelope(kind, exc.message, exc.errors or None, code=exc.code)
        return Response(body, status=400 if kind is Status.INVALID_INPUT else exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Basic realm="api"'
        return Response(envelope(Status.ERROR, str(exc.detail)), status=401, headers=headers)
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        return Response(envelope(Status.INVALID_INPUT, f"Invalid value for: {', '.join(sorted(errors))}.", errors), 400)
    if isinstance(exc, exceptions.ParseError):
        return Response(envelope(Status.INVALID_INPUT, str(exc.detail), {"body": [str(exc.detail)]}), status=400)
    return Response(envelope(Status.ERROR, str(exc.detail)), status=exc.status_code, headers=headers)


class IsPartnerKey(BasePermission):
    """The caller authenticated with a partner API key (staff sessions use Pitboss's own API and admin)."""

    message = "Authenticate with Basic auth: user 'apikey', your Pitboss API key as the password."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class SmartKarrotView(APIView):
    """Base of every SmartKarrot-compatible endpoint: partner keys only, JSON in, the envelope out."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsPartnerKey]
    parser_classes = [JSONParser]

    def get_exception_handler(self):
        return exception_handler

    def get_authenticate_header(self, request) -> str:
        return 'Basic realm="api"'

    @property
    def label_id(self) -> int:
        """The label of the calling key: every read and write of the request stays inside it."""
        return self.request.auth.label_id


class EnvelopeSerializer(serializers.Serializer):
    """The envelope's common field, for the OpenAPI schema."""

    status = serializers.ChoiceField(choices=[s.value for s in Status], help_text="SUCCESS, ERROR or INVALID_INPUT.")
    message = serializers.CharField(required=False, help_text="What went wrong (errors only).")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="INVALID_INPUT only: each invalid field with its messages.",
    )
