"""The player a `/players/{ext_brand_id}/{user_ext_id}/...` URL names, for every app's player endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

from backoffice.api.authentication import request_actor
from backoffice.api.idempotency import IdempotentPostView
from backoffice.models import Perm
from crm.models import Player
from crm.selectors import player_get

LABEL_KEY_PARAM = OpenApiParameter(
    "label_key", OpenApiTypes.STR, description="Only for staff whose labels share the brand id."
)
PLAYER_PATH_PARAMS = [
    OpenApiParameter("ext_brand_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Your brand id."),
    OpenApiParameter("user_ext_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Your id of the player."),
    LABEL_KEY_PARAM,
]


def player_from_path(request: Request, ext_brand_id: str, user_ext_id: str, *, act: str | None = None) -> Player:
    """The player a `/players/{ext_brand_id}/{user_ext_id}/...` URL names, within the caller's labels (404 otherwise).

    With `act` (what the request does, for the message), the caller's role must also act on players of that label.
    """
    actor = request_actor(request)
    player = player_get(
        actor=actor,
        ext_brand_id=ext_brand_id,
        user_ext_id=user_ext_id,
        label_key=request.query_params.get("label_key"),
    )
    if act and not actor.can(Perm.PLAYER_ACT, player.label_id):
        raise PermissionDenied(f"Your role may not {act}.")
    return player


class PlayerIdempotentPostView(IdempotentPostView):
    """An idempotent POST under `/players/{ext_brand_id}/{user_ext_id}/`: its subject is that player."""

    act: str  # what the request does to the player, for the 403 message ("adjust balances")

    def subject(self, request: Request, **path: Any) -> Player:
        return player_from_path(request, path["ext_brand_id"], path["user_ext_id"], act=self.act)
