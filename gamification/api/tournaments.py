"""Tournament endpoints: instances of the label, their leaderboards, a player's tournaments and registration."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.players import LABEL_KEY_PARAM, PLAYER_PATH_PARAMS, player_from_path
from backoffice.api.schema import error_responses
from backoffice.api.serializers import refuse_body
from backoffice.errors import DomainValidationError, NotFound
from gamification.models import InstanceStatus, TournamentInstance, TournamentPrize
from gamification.selectors.tournaments import (
    player_tournament_get,
    score_currency,
    tournament_instance_get,
    tournament_instances,
    tournament_leaderboard,
    tournaments_for_player,
)
from gamification.services.tournament_registration import tournament_register

TAG = "tournaments"
MAX_LIST = 200
SCORE = {"max_digits": 24, "decimal_places": 4, "coerce_to_string": False}  # a JSON number, as mission progress


# --- serializers ------------------------------------------------------------------------------------------
class TournamentPrizeSerializer(serializers.ModelSerializer):
    badge_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="A badge awarded, if any.")

    class Meta:
        model = TournamentPrize
        fields = ["place_from", "place_to", "points", "gems", "diamonds", "badge_id", "description"]
        read_only_fields = fields
        extra_kwargs = {
            "place_from": {"help_text": "First place of the range."},
            "place_to": {"help_text": "Last place of the range (inclusive)."},
            "points": {"help_text": "Points each place of the range wins."},
            "gems": {"help_text": "Gems each place wins."},
            "diamonds": {"help_text": "Diamonds each place wins."},
            "description": {"help_text": "A tangible prize, fulfilled offline."},
        }


class TournamentInstanceSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The instance id (used in every tournament URL).")
    tournament_id = serializers.IntegerField(help_text="The template this instance runs.")
    name = serializers.CharField(source="tournament.name", help_text="Name shown to staff.")
    names = serializers.JSONField(source="tournament.names", help_text="Names per language.")
    descriptions = serializers.JSONField(source="tournament.descriptions", help_text="Descriptions per language.")
    image_url = serializers.CharField(source="tournament.image_url", help_text="Image shown to players.")
    custom = serializers.JSONField(source="tournament.custom", help_text="Custom data for the front end.")
    status = serializers.ChoiceField(InstanceStatus.choices, help_text="published, registration, started, ...")
    registration_type = serializers.CharField(
        source="tournament.registration_type", help_text="auto, opt_in, buy_in or manual."
    )
    buy_in_amount = serializers.IntegerField(
        source="tournament.buy_in_amount", allow_null=True, help_text="Buy-in price; null when free."
    )
    buy_in_currency = serializers.CharField(source="tournament.buy_in_currency", help_text="Buy-in currency, or empty.")
    min_players = serializers.IntegerField(source="tournament.min_players", help_text="Fewer: the instance fails.")
    max_players = serializers.IntegerField(
        source="tournament.max_players", allow_null=True, help_text="Null: no limit."
    )
    participant_count = serializers.IntegerField(help_text="Registered participants.")
    event_type = serializers.CharField(source="tournament.event_type", help_text="The event type that scores.")
    score_method = serializers.CharField(source="tournament.score_method", help_text="count, sum or best.")
    score_currency = serializers.SerializerMethodField(
        help_text="The currency of the scores when they are amounts of money (a sum or best bet, deposit or win): the "
        "label's base currency, every amount converted at the rate of its day. Null for counts and other numbers."
    )
    registration_opens_at = serializers.DateTimeField(help_text="When registration opens.")
    starts_at = serializers.DateTimeField(help_text="Start.")
    ends_at = serializers.DateTimeField(help_text="End.")
    finalized_at = serializers.DateTimeField(allow_null=True, help_text="When places and prizes were settled.")
    status_reason = serializers.CharField(help_text="Why it was cancelled or failed.")
    prizes = TournamentPrizeSerializer(source="tournament.prizes.all", many=True, help_text="Prizes by place range.")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_score_currency(self, obj) -> str | None:
        return score_currency(obj)


class StandingSerializer(serializers.Serializer):
    place = serializers.IntegerField(help_text="1 is first. Ties go to who reached the score first.")
    ext_brand_id = serializers.CharField(help_text="The player's brand.")
    user_ext_id = serializers.CharField(help_text="Your id of the player.")
    username = serializers.CharField(help_text="The player's username, or empty.")
    score = serializers.DecimalField(**SCORE, help_text="The score.")
    reached_at = serializers.DateTimeField(help_text="When the player reached this score.")
    events_counted = serializers.IntegerField(help_text="Events that counted.")


def standing_data(standing, players) -> dict:
    player = players.get(standing.player_id)
    return {
        "place": standing.place,
        "ext_brand_id": player.brand.ext_brand_id if player else "",
        "user_ext_id": player.user_ext_id if player else "",
        "username": player.core_username if player else "",
        "score": standing.score,
        "reached_at": standing.reached_at,
        "events_counted": standing.events_counted,
    }


class LeaderboardSerializer(serializers.Serializer):
    instance_id = serializers.IntegerField(help_text="The instance.")
    status = serializers.CharField(help_text="The instance's status: live while started.")
    participant_count = serializers.IntegerField(help_text="Registered participants.")
    score_currency = serializers.CharField(
        allow_null=True, help_text="The scores' currency (the label's base currency) when they are money; else null."
    )
    top = StandingSerializer(many=True, help_text="The first places.")
    me = StandingSerializer(
        allow_null=True,
        help_text="The given player's standing; null if not registered, or while their account is not ACTIVE.",
    )
    around = StandingSerializer(many=True, help_text="Two places above the player, the player, two below.")


class ParticipationSerializer(serializers.Serializer):
    status = serializers.CharField(
        help_text="registered, pending, rejected, refunded, or excluded: off the board while the account is not "
        "ACTIVE (the label's active-players-only setting), back with the same score once ACTIVE."
    )
    score = serializers.DecimalField(**SCORE, help_text="The player's score.")
    events_counted = serializers.IntegerField(help_text="Events that counted.")
    rank = serializers.IntegerField(allow_null=True, help_text="Live rank (or final place); null if not ranked.")
    place = serializers.IntegerField(allow_null=True, help_text="Final place once finished.")
    registered_at = serializers.DateTimeField(help_text="When the player entered.")


class PlayerTournamentSerializer(serializers.Serializer):
    """A tournament instance as one player sees it (composed into the player's gamification state)."""

    tournament = TournamentInstanceSerializer(source="instance", help_text="The instance and its template.")
    participation = serializers.SerializerMethodField(help_text="The player's entry; null if not in it.")
    can_register = serializers.BooleanField(help_text="Whether the player may register now.")

    @extend_schema_field(ParticipationSerializer(allow_null=True))
    def get_participation(self, obj) -> dict | None:
        p = obj.participation
        if p is None:
            return None
        return {
            "status": p.status,
            "score": p.score,
            "events_counted": p.events_counted,
            "rank": obj.standing.place if obj.standing else None,
            "place": p.place,
            "registered_at": p.registered_at,
        }


class RegistrationResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the player was already in: nothing changed.")
    pending = serializers.BooleanField(help_text="True while a manual tournament awaits staff approval.")
    tournament = PlayerTournamentSerializer(help_text="The tournament as the player sees it now.")


# --- views ------------------------------------------------------------------------------------------------
STATUS_PARAM = OpenApiParameter(
    "status", OpenApiTypes.STR, enum=InstanceStatus.values, description="Only instances in this status."
)
INSTANCE_PARAM = OpenApiParameter("instance_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The instance.")
LEADERBOARD_PARAMS = [
    INSTANCE_PARAM,
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description="Places from the top (default and maximum: the tournament's leaderboard size).",
    ),
    OpenApiParameter(
        "ext_brand_id", OpenApiTypes.STR, description="With user_ext_id: that player's rank and neighbours."
    ),
    OpenApiParameter("user_ext_id", OpenApiTypes.STR, description="Your id of the player (with ext_brand_id)."),
    LABEL_KEY_PARAM,
]


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0 or value > 10_000:
        raise DomainValidationError({name: ["A whole number from 0 to 10000."]})
    return value


class TournamentListView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Tournament instances of your label",
        parameters=[STATUS_PARAM],
        responses={200: TournamentInstanceSerializer(many=True), **error_responses(400, 401, 403)},
        description=f"Newest start first, at most {MAX_LIST}. Filter by `status`.",
    )
    def get(self, request):
        wanted = request.query_params.get("status") or None
        if wanted is not None and wanted not in InstanceStatus.values:
            raise DomainValidationError({"status": [f"One of: {', '.join(InstanceStatus.values)}."]})
        rows = tournament_instances(actor=request_actor(request), status=wanted)[:MAX_LIST]
        return Response(TournamentInstanceSerializer(rows, many=True).data)


class TournamentDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="One tournament instance, with its prizes",
        parameters=[INSTANCE_PARAM],
        responses={200: TournamentInstanceSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, instance_id: int):
        instance = tournament_instance_get(actor=request_actor(request), instance_id=instance_id)
        return Response(TournamentInstanceSerializer(instance).data)


class TournamentLeaderboardView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="A tournament's leaderboard",
        parameters=LEADERBOARD_PARAMS,
        responses={200: LeaderboardSerializer, **error_responses(400, 401, 403, 404)},
        description="The top places, live while the tournament runs; with `ext_brand_id` and `user_ext_id`, that "
        "player's standing and two neighbours on each side (`me` is null when they are not registered).",
    )
    def get(self, request, instance_id: int):
        actor = request_actor(request)
        instance = tournament_instance_get(actor=actor, instance_id=instance_id)
        limit = _int_param(request, "limit")
        player = None
        ext_brand_id, user_ext_id = request.query_params.get("ext_brand_id"), request.query_params.get("user_ext_id")
        if bool(ext_brand_id) != bool(user_ext_id):
            raise DomainValidationError({"user_ext_id": ["Give both ext_brand_id and user_ext_id, or neither."]})
        if ext_brand_id:
            player = player_from_path(request, ext_brand_id, user_ext_id)
            if player.label_id != instance.label_id:
                raise NotFound("No such player.")
        board = tournament_leaderboard(instance=instance, player=player, limit=limit)
        body = {
            "instance_id": instance.pk,
            "status": instance.status,
            "participant_count": instance.participant_count,
            "score_currency": board.score_currency,
            "top": [standing_data(s, board.players) for s in board.top],
            "me": standing_data(board.me, {**board.players, player.pk: player}) if board.me else None,
            "around": [standing_data(s, board.players) for s in board.around],
        }
        return Response(LeaderboardSerializer(body).data)


class PlayerTournamentListView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="A player's tournaments",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: PlayerTournamentSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="Upcoming, running and recently finished (7 days) instances, each with the player's entry, "
        "live rank or final place, and whether they may register. Empty for control-group players.",
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        return Response(PlayerTournamentSerializer(tournaments_for_player(player=player), many=True).data)


class PlayerTournamentRegistrationView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Register a player in a tournament",
        parameters=[*PLAYER_PATH_PARAMS, INSTANCE_PARAM],
        request=None,
        responses={
            200: RegistrationResultSerializer,
            201: RegistrationResultSerializer,
            202: RegistrationResultSerializer,
            **error_responses(400, 401, 403, 404, 422),
        },
        description="201 registered (a buy-in is debited in the same step); 202 awaiting staff approval (manual "
        "tournaments); 200 already in (nothing changes). 422 refusals, by `code`: `registration_closed` (not in "
        "registration nor started), `tournament_full`, `insufficient_balance` (buy-in), `control_group`, "
        "`account_not_active` (the player's account status is not ACTIVE and the label takes only ACTIVE players). "
        "A refusal changes nothing.",
    )
    def post(self, request, ext_brand_id: str, user_ext_id: str, instance_id: int):
        player = player_from_path(request, ext_brand_id, user_ext_id, act="register players")
        instance = _instance_of(player, instance_id)
        refuse_body(request)
        result = tournament_register(player=player, instance=instance)
        instance.refresh_from_db(fields=["status", "participant_count"])
        body = {
            "created": result.created,
            "pending": result.pending,
            "tournament": player_tournament_get(player=player, instance=instance),
        }
        code = status.HTTP_200_OK
        if result.created:
            code = status.HTTP_202_ACCEPTED if result.pending else status.HTTP_201_CREATED
        return Response(RegistrationResultSerializer(body).data, status=code)


def _instance_of(player, instance_id: int) -> TournamentInstance:
    instance = (
        TournamentInstance.objects.for_label(player.label_id)
        .select_related("tournament", "label")
        .filter(pk=instance_id)
        .first()
    )
    if instance is None:
        raise NotFound("No tournament with this id.")
    return instance
