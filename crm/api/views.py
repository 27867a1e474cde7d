"""Player endpoints: list with filters, retrieve, create-or-update that applies only changed fields."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.players import PLAYER_PATH_PARAMS, player_from_path
from backoffice.api.schema import error_responses
from backoffice.errors import DomainValidationError
from backoffice.models import Perm
from crm.api.serializers import (
    PlayerProfileInputSerializer,
    PlayerSerializer,
    PlayerUpsertInputSerializer,
    PlayerUpsertResultSerializer,
)
from crm.filtersets import PlayerFilterSet
from crm.selectors import brand_resolve, players_for_actor
from crm.services.players import UpsertResult, player_upsert
from crm.validators import FieldError, identifier


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise DomainValidationError({"non_field_errors": ["The body must be a JSON object."]}, code="malformed_request")
    return dict(request.data)


def _ids(profile: dict) -> dict[str, str]:
    """Pop the player's ids from a create-or-update body, cleaned by the rules event ingest applies to them, so that
    a player is one player whichever way it arrived (NFC; no control, invisible or bidi characters)."""
    ids, errors = {}, {}
    for name in ("ext_brand_id", "user_ext_id"):
        value = profile.pop(name, None)
        if value is None or value == "":
            errors[name] = ["This field is required."]
            continue
        try:
            ids[name] = identifier(value)
        except FieldError as exc:
            errors[name] = [str(exc)]
    if errors:
        raise DomainValidationError(errors)
    return ids


def _upsert_response(result: UpsertResult) -> Response:
    body = PlayerUpsertResultSerializer(result).data
    return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


def _write(request, *, ext_brand_id, user_ext_id, label_key, profile: dict) -> UpsertResult:
    actor = request_actor(request)
    brand = brand_resolve(actor=actor, ext_brand_id=ext_brand_id, label_key=label_key)
    if not actor.can(Perm.PLAYER_WRITE, brand.label_id):
        raise PermissionDenied("Your role may not change player profiles.")
    return player_upsert(brand=brand, user_ext_id=user_ext_id, data=profile)


class PlayerListView(ListAPIView):
    """Players of your label, newest first, cursor-paginated."""

    serializer_class = PlayerSerializer
    filterset_class = PlayerFilterSet

    def get_queryset(self):
        return players_for_actor(actor=request_actor(self.request))

    @extend_schema(
        tags=["players"],
        summary="List players",
        responses={200: PlayerSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=["players"],
        summary="Create or update a player",
        request=PlayerUpsertInputSerializer,
        responses={
            200: PlayerUpsertResultSerializer,
            201: PlayerUpsertResultSerializer,
            **error_responses(400, 401, 403),
        },
        description="Creates the player, or applies only the fields that changed. 201 when created, 200 otherwise.",
    )
    def post(self, request, *args, **kwargs):
        profile = _body(request)
        ids = _ids(profile)
        result = _write(
            request,
            ext_brand_id=ids["ext_brand_id"],
            user_ext_id=ids["user_ext_id"],
            label_key=profile.pop("label_key", None),
            profile=profile,
        )
        return _upsert_response(result)


class PlayerDetailView(APIView):
    """One player, addressed by your brand id and player id."""

    @extend_schema(
        tags=["players"],
        summary="Retrieve a player",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: PlayerSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        return Response(PlayerSerializer(player_from_path(request, ext_brand_id, user_ext_id)).data)

    @extend_schema(
        tags=["players"],
        summary="Update a player",
        parameters=PLAYER_PATH_PARAMS,
        request=PlayerProfileInputSerializer,
        responses={200: PlayerUpsertResultSerializer, **error_responses(400, 401, 403, 404)},
        description="Applies only the fields that changed. 404 if the player does not exist (create with POST).",
    )
    def patch(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        result = _write(
            request,
            ext_brand_id=ext_brand_id,
            user_ext_id=player.user_ext_id,  # as stored: the path may name it in another Unicode form
            label_key=request.query_params.get("label_key"),
            profile=_body(request),
        )
        return _upsert_response(result)
