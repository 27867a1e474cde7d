"""Missions and badges of a player: their state, opt-in, claim, and badge awards by partners with an idempotency key."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.fields import StrictIntegerField
from backoffice.api.idempotency import MAX_IDEMPOTENCY_KEY, idempotent_post_schema
from backoffice.api.players import PLAYER_PATH_PARAMS, PlayerIdempotentPostView, player_from_path
from backoffice.api.schema import error_responses
from backoffice.api.serializers import StrictSerializer, refuse_body
from gamification.models import PlayerMission, PlayerMissionState
from gamification.selectors import badge_get, badges_for_player, mission_get, missions_for_player
from gamification.services.badges import badge_award
from gamification.services.missions import mission_claim, mission_opt_in
from gamification.services.wallet import MAX_REASON_LENGTH

DECIMAL = {"max_digits": 20, "decimal_places": 4, "coerce_to_string": False}


# --- serializers -----------------------------------------------------------------------------------------------------
class MissionTaskStateSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The task's id.")
    name = serializers.CharField(help_text="Name shown to staff.")
    names = serializers.DictField(child=serializers.CharField(), help_text="Name per language.")
    event_type = serializers.CharField(help_text="The event type the task counts.")
    aggregation = serializers.CharField(help_text="count (events) or sum (of a field).")
    target = serializers.DecimalField(**DECIMAL, help_text="The count or sum that completes the task.")
    value = serializers.DecimalField(**DECIMAL, help_text="The player's count or sum in the run shown.")
    done = serializers.BooleanField(help_text="The value reached the target.")


class MissionBadgeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The badge's id.")
    name = serializers.CharField(help_text="Name shown to staff.")
    names = serializers.DictField(child=serializers.CharField(), help_text="Name per language.")


class MissionRewardsSerializer(serializers.Serializer):
    points = serializers.IntegerField(help_text="Points given on completion (or claim).")
    gems = serializers.IntegerField(help_text="Gems given.")
    diamonds = serializers.IntegerField(help_text="Diamonds given.")
    badge = MissionBadgeRefSerializer(allow_null=True, help_text="The badge awarded; null if none.")


class PlayerMissionSerializer(serializers.Serializer):
    """A mission as the player sees it now."""

    id = serializers.IntegerField(help_text="The mission's id.")
    name = serializers.CharField(help_text="Name shown to staff.")
    names = serializers.DictField(child=serializers.CharField(), help_text="Name per language.")
    descriptions = serializers.DictField(child=serializers.CharField(), help_text="Description per language.")
    image_url = serializers.CharField(help_text="Image shown to players.")
    custom = serializers.JSONField(help_text="Custom data for the front end.")
    type = serializers.CharField(help_text="general, locked, recurring or recurring_on_completion.")
    is_featured = serializers.BooleanField(help_text="Shown first and highlighted.")
    requires_opt_in = serializers.BooleanField(help_text="Progress counts only after the player opts in.")
    claim_required = serializers.BooleanField(help_text="The player claims the reward after completing it.")
    active_till = serializers.DateTimeField(allow_null=True, help_text="The mission closes then; null: no end.")
    state = serializers.ChoiceField(PlayerMissionState.choices, help_text="The player's state in the mission.")
    run = serializers.IntegerField(help_text="The completion number of the run shown (1, 2...).")
    cycle = serializers.CharField(help_text="Recurring: the day of the run (label's time zone); otherwise empty.")
    opted_in_at = serializers.DateTimeField(allow_null=True, help_text="When the player opted in.")
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Opt-in plus the time limit; then missed.")
    completed_at = serializers.DateTimeField(allow_null=True, help_text="When every task was done.")
    claimed_at = serializers.DateTimeField(allow_null=True, help_text="When the rewards were given.")
    rewards = MissionRewardsSerializer(help_text="What completing the mission gives.")
    tasks = MissionTaskStateSerializer(many=True, help_text="The tasks, with the player's progress.")


class MissionRunSerializer(serializers.ModelSerializer):
    """One run of a mission by the player."""

    class Meta:
        model = PlayerMission
        fields = ["mission_id", "run", "cycle", "state", "opted_in_at", "expires_at", "completed_at", "claimed_at"]
        read_only_fields = fields


class MissionClaimResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the run was already claimed: nothing changed.")
    run = MissionRunSerializer(help_text="The claimed run.")


class BadgeStageStateSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1 is the first stage.")
    name = serializers.CharField(help_text="e.g. Bronze.")
    names = serializers.DictField(child=serializers.CharField(), help_text="Name per language.")
    image_url = serializers.CharField(help_text="Image of the stage.")
    earned = serializers.BooleanField(help_text="The player holds this stage.")


class PlayerBadgeSerializer(serializers.Serializer):
    """A badge as the player sees it."""

    id = serializers.IntegerField(help_text="The badge's id.")
    name = serializers.CharField(help_text="Name shown to staff.")
    names = serializers.DictField(child=serializers.CharField(), help_text="Name per language.")
    descriptions = serializers.DictField(child=serializers.CharField(), help_text="Description per language.")
    image_url = serializers.CharField(help_text="Image shown to players.")
    visibility = serializers.CharField(help_text="greyed: shown greyed until earned (hidden ones are left out).")
    earned = serializers.BooleanField(help_text="The player holds at least one stage.")
    stage = serializers.IntegerField(allow_null=True, help_text="The highest stage the player holds; null if none.")
    stage_count = serializers.IntegerField(help_text="How many stages the badge has (1 without stages).")
    earned_at = serializers.DateTimeField(allow_null=True, help_text="When the highest stage was awarded.")
    stages = BadgeStageStateSerializer(many=True, help_text="The stages; empty for a badge without stages.")


class BadgeAwardInputSerializer(StrictSerializer):
    stage = StrictIntegerField(
        required=False, min_value=1, max_value=1000, help_text="The stage to award; default: the next one."
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_REASON_LENGTH, help_text="Why, kept with the award."
    )
    idempotency_key = serializers.CharField(
        required=False,
        max_length=MAX_IDEMPOTENCY_KEY,
        help_text="Your unique key of this award (or send the `Idempotency-Key` header). A retry with the same key "
        "changes nothing and answers 200 with the first award.",
    )


class BadgeAwardSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The award's id.")
    badge_id = serializers.IntegerField(help_text="The badge.")
    stage = serializers.IntegerField(help_text="The stage awarded.")
    source = serializers.CharField(help_text="mission, rule, journey, manual or api.")
    reason = serializers.CharField(help_text="Why.")
    created_at = serializers.DateTimeField(help_text="When.")


class BadgeAwardResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the idempotency key was already used: nothing changed.")
    award = BadgeAwardSerializer(help_text="The award of this request.")


MISSION_ID = OpenApiParameter("mission_id", int, OpenApiParameter.PATH, description="The mission's id.")
BADGE_ID = OpenApiParameter("badge_id", int, OpenApiParameter.PATH, description="The badge's id.")


# --- views -----------------------------------------------------------------------------------------------------------
class PlayerMissionsView(APIView):
    @extend_schema(
        tags=["missions"],
        summary="A player's missions",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: PlayerMissionSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="The label's active missions with the player's state (locked, available, in_progress, "
        "completed, claimed, missed) and progress in each task, featured first. Recurring missions are listed on "
        "their scheduled days only. Players of the gamification control group get an empty list.",
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        return Response(PlayerMissionSerializer(missions_for_player(player=player), many=True).data)


class MissionOptInView(APIView):
    @extend_schema(
        tags=["missions"],
        summary="Opt a player in to a mission",
        parameters=[*PLAYER_PATH_PARAMS, MISSION_ID],
        request=None,
        responses={200: MissionRunSerializer, **error_responses(400, 401, 403, 404, 422)},
        description="Progress counts from the opt-in, until the mission's time limit if it has one. Opting in again "
        "changes nothing. 422 refusals, by `code`: `control_group`, `opt_in_not_required`, `not_open`, `locked`, "
        "`already_finished`.",
    )
    def post(self, request, ext_brand_id: str, user_ext_id: str, mission_id: int):
        player = player_from_path(request, ext_brand_id, user_ext_id, act="act for players")
        refuse_body(request)
        run = mission_opt_in(player=player, mission=mission_get(player=player, mission_id=mission_id))
        return Response(MissionRunSerializer(run).data)


class MissionClaimView(APIView):
    @extend_schema(
        tags=["missions"],
        summary="Claim a completed mission's rewards",
        parameters=[*PLAYER_PATH_PARAMS, MISSION_ID],
        request=None,
        responses={
            200: MissionClaimResultSerializer,
            201: MissionClaimResultSerializer,
            **error_responses(400, 401, 403, 404, 422),
        },
        description="Gives the rewards of the player's latest completed run: 201 when given, 200 when already "
        "claimed (nothing changes). 422 `not_completed` when the latest run is not completed.",
    )
    def post(self, request, ext_brand_id: str, user_ext_id: str, mission_id: int):
        player = player_from_path(request, ext_brand_id, user_ext_id, act="act for players")
        refuse_body(request)
        result = mission_claim(player=player, mission=mission_get(player=player, mission_id=mission_id))
        body = MissionClaimResultSerializer({"created": result.created, "run": result.player_mission}).data
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class PlayerBadgesView(APIView):
    @extend_schema(
        tags=["badges"],
        summary="A player's badges",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: PlayerBadgeSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="The label's badges with the stage the player holds. Badges hidden until earned, and inactive "
        "ones, are listed only once earned. Players of the gamification control group get an empty list.",
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        return Response(PlayerBadgeSerializer(badges_for_player(player=player), many=True).data)


@extend_schema_view(
    post=idempotent_post_schema(
        tags=["badges"],
        summary="Award a badge to a player",
        parameters=[*PLAYER_PATH_PARAMS, BADGE_ID],
        request=BadgeAwardInputSerializer,
        response=BadgeAwardResultSerializer,
        description="Awards the next stage (or `stage`) once per idempotency key: 201 when awarded, 200 when the key "
        "was already used for the same award, 409 when used for another one. 422 refusals, by `code`: `inactive`, "
        "`control_group`, `max_stage` (no stage left, or no such stage), `already_awarded` (that stage is held).",
    )
)
class BadgeAwardView(PlayerIdempotentPostView):
    act = "act for players"
    input_serializer_class = BadgeAwardInputSerializer
    output_serializer_class = BadgeAwardResultSerializer

    def perform(self, subject, data, *, key, created_by, **path):
        return badge_award(
            player=subject,
            badge=badge_get(player=subject, badge_id=path["badge_id"]),
            source="api",
            key=key,
            stage=data.get("stage"),
            reason=data.get("reason", ""),
            created_by=created_by,
        )

    def output(self, subject, result):
        return {"created": result.created, "award": result.award}
