"""GET /api/v1/players/{ext_brand_id}/{user_ext_id}/gamification: a player's whole gamification state."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.players import PLAYER_PATH_PARAMS, player_from_path
from backoffice.api.schema import error_responses
from gamification.api.missions import PlayerBadgeSerializer, PlayerMissionSerializer
from gamification.api.serializers import LevelSerializer, StoreItemSerializer, WalletSerializer
from gamification.api.tournaments import PlayerTournamentSerializer
from gamification.selectors.state import gamification_state


class LevelProgressSerializer(serializers.Serializer):
    current = LevelSerializer(allow_null=True, help_text="The player's level; null when the label has none.")
    next = LevelSerializer(allow_null=True, help_text="The next level up; null at the top.")
    points_earned = serializers.IntegerField(help_text="Ever-earned points, which drive the level.")
    points_to_next = serializers.IntegerField(allow_null=True, help_text="Points still needed; null at the top.")
    percent = serializers.IntegerField(help_text="0 to 100: the way from the current level to the next.")


class GamificationStateSerializer(serializers.Serializer):
    ext_brand_id = serializers.CharField(source="player.brand.ext_brand_id")
    user_ext_id = serializers.CharField(source="player.user_ext_id")
    in_control_group = serializers.BooleanField(
        help_text="The player is in the gamification control group: they see no gamification (every list is empty)."
    )
    wallet = WalletSerializer(help_text="Balances: spendable, ever-earned and tournament points, gems, diamonds.")
    level = LevelProgressSerializer()
    missions = PlayerMissionSerializer(many=True, help_text="Active missions with the player's state and progress.")
    badges = PlayerBadgeSerializer(many=True, help_text="Badges, earned or shown greyed (hidden ones once earned).")
    tournaments = PlayerTournamentSerializer(many=True, help_text="Tournaments the player sees, with their rank.")
    store = StoreItemSerializer(many=True, help_text="Items on sale now, with caps left and affordability.")


class GamificationStateView(APIView):
    @extend_schema(
        tags=["gamification"],
        summary="A player's whole gamification state",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: GamificationStateSerializer, **error_responses(400, 401, 403, 404)},
        description="Balances, level and progress to the next, missions with states and progress, badges, "
        "tournaments with the player's rank, and the store, in one response: what the read-only widget renders.",
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        return Response(GamificationStateSerializer(gamification_state(player=player)).data)
