"""POST endpoints that change something once per idempotency key: one base class for all of them.

The contract a partner sees, the same on every such endpoint: the key comes in the body (`idempotency_key`) or the
`Idempotency-Key` header; 201 when the change is made, 200 with the first result when the key was already used for
the same request (nothing changes), 409 when it was used for a different one. The service called owns the key (a
unique constraint claims it); the view only reads it, prefixes it so that partners' keys never collide with the keys
the product makes itself (missions, the store, staff), and turns `created` into the status code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Protocol

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from backoffice.api.schema import error_responses
from backoffice.errors import DomainValidationError
from backoffice.models import ApiKey

MAX_IDEMPOTENCY_KEY = 200
KEY_PREFIX = "api"

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Your unique key of this request, instead of `idempotency_key` in the body.",
)


class IdempotentResult(Protocol):
    """What an idempotent service returns: whether this call made the change."""

    created: bool


def idempotency_key(request: Request, data: dict[str, Any]) -> str:
    """The caller's key, from the validated body or else the header; 400 naming `idempotency_key` without one."""
    key = data.get("idempotency_key") or request.headers.get("Idempotency-Key", "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        message = f"Required (in the body or the Idempotency-Key header), at most {MAX_IDEMPOTENCY_KEY} characters."
        raise DomainValidationError({"idempotency_key": [message]})
    return key


def idempotent_post_schema(
    *,
    tags: list[str],
    summary: str,
    description: str,
    request: type[BaseSerializer],
    response: type[BaseSerializer],
    parameters: Sequence[OpenApiParameter] = (),
    errors: Sequence[int] = (400, 401, 403, 404, 409, 422),
) -> Any:
    """The OpenAPI description of an idempotent POST: 201 and 200 with the same body, the key's header, the errors.

    Use as `@extend_schema_view(post=idempotent_post_schema(...))` on the view class.
    """
    return extend_schema(
        tags=tags,
        summary=summary,
        description=description,
        parameters=[*parameters, IDEMPOTENCY_HEADER],
        request=request,
        responses={200: response, 201: response, **error_responses(*errors)},
    )


class IdempotentPostView(APIView, ABC):
    """A POST that makes its change once per idempotency key (see the module's docstring for the contract).

    A subclass names its serializers and implements `subject` (the row the URL names, resolved before the body is
    read so that 404 and 403 come before 400) and `perform` (one service call, given the prefixed key).
    """

    input_serializer_class: type[BaseSerializer]
    output_serializer_class: type[BaseSerializer]

    @abstractmethod
    def subject(self, request: Request, **path: Any) -> Any:
        """The object the URL names, within the caller's labels (404 otherwise), checked for the caller's rights."""

    @abstractmethod
    def perform(self, subject: Any, data: dict[str, Any], *, key: str, created_by: Any, **path: Any) -> Any:
        """Call the service with the prefixed `key`; return its result, which has `created`."""

    def output(self, subject: Any, result: Any) -> Any:
        """What the output serializer renders; by default the service's result."""
        return result

    def post(self, request: Request, **path: Any) -> Response:
        subject = self.subject(request, **path)
        serializer = self.input_serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        key = f"{KEY_PREFIX}:{idempotency_key(request, data)}"
        result = self.perform(subject, data, key=key, created_by=staff_user(request), **path)
        body = self.output_serializer_class(self.output(subject, result)).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def staff_user(request: Request) -> Any:
    """The staff user behind a request, for `created_by`; None when a partner's API key made it."""
    return None if isinstance(request.auth, ApiKey) else request.user
