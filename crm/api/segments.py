"""Partner API of segments (read): list and read your label's segments, list a segment's players now, and ask whether
one player is in a segment now (live: evaluated on the spot, never from a stale list)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.pagination import CursorPagination
from backoffice.api.players import PLAYER_PATH_PARAMS, player_from_path
from backoffice.api.schema import error_responses
from backoffice.errors import NotFound
from crm.conditions import TreeError, tree_describe
from crm.models import Player, Segment
from crm.segments_selectors import segment_for_actor, segment_members, segments_for_actor
from crm.services.segments import segment_contains

SEGMENT_ID_PARAM = OpenApiParameter(
    "segment_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The segment's id (GET /segments)."
)


class SegmentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="The segment's id.")
    name = serializers.CharField(read_only=True, help_text="Name shown to staff.")
    description = serializers.CharField(read_only=True, help_text="What the segment is for (staff's words).")
    kind = serializers.CharField(
        read_only=True, help_text="conditions (players matching a condition tree) or imported (a CSV list)."
    )
    status = serializers.CharField(
        read_only=True, help_text="active (tracks membership, emits segment_entered/segment_left) or paused."
    )
    conditions = serializers.JSONField(
        read_only=True, help_text="The condition tree (conditions segments); see docs/conditions.md."
    )
    in_words = serializers.SerializerMethodField(help_text="The condition tree in plain words.")
    created_at = serializers.DateTimeField(read_only=True, help_text="When it was created (UTC).")
    updated_at = serializers.DateTimeField(read_only=True, help_text="When it last changed (UTC).")

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "kind", "status", "conditions", "in_words", "created_at",
                  "updated_at"]  # fmt: skip

    def get_in_words(self, obj: Segment) -> str:
        if obj.kind != "conditions":
            return "players of the imported list"
        try:
            return tree_describe(obj.conditions, label_id=obj.label_id)
        except TreeError:
            return ""


class SegmentMemberSerializer(serializers.ModelSerializer):
    ext_brand_id = serializers.CharField(source="brand.ext_brand_id", read_only=True, help_text="Your brand id.")
    user_ext_id = serializers.CharField(read_only=True, help_text="Your id of the player.")

    class Meta:
        model = Player
        fields = ["ext_brand_id", "user_ext_id"]


class MembershipSerializer(serializers.Serializer):
    segment_id = serializers.IntegerField(help_text="The segment asked about.")
    ext_brand_id = serializers.CharField(help_text="Your brand id.")
    user_ext_id = serializers.CharField(help_text="Your id of the player.")
    member = serializers.BooleanField(help_text="Whether the player is in the segment now.")


class SegmentListView(ListAPIView):
    """Your label's segments, newest first."""

    serializer_class = SegmentSerializer

    def get_queryset(self):
        return segments_for_actor(actor=request_actor(self.request))

    @extend_schema(tags=["segments"], summary="List segments",
                   responses={200: SegmentSerializer(many=True), **error_responses(400, 401, 403)})  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class SegmentDetailView(APIView):
    """One segment of your label; another label's id is 404."""

    @extend_schema(tags=["segments"], summary="Retrieve a segment", parameters=[SEGMENT_ID_PARAM],
                   responses={200: SegmentSerializer, **error_responses(401, 403, 404)})  # fmt: skip
    def get(self, request, segment_id: int):
        return Response(SegmentSerializer(segment_for_actor(actor=request_actor(request), segment_id=segment_id)).data)


class MemberPagination(CursorPagination):
    ordering = "id"


class SegmentMembersView(ListAPIView):
    """The segment's players now (live), by player id, cursor-paginated."""

    serializer_class = SegmentMemberSerializer
    pagination_class = MemberPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema generator: no request path
            return Player.objects.none()
        segment = segment_for_actor(actor=request_actor(self.request), segment_id=self.kwargs["segment_id"])
        return segment_members(segment=segment)

    @extend_schema(
        tags=["segments"],
        summary="List a segment's players",
        parameters=[SEGMENT_ID_PARAM],
        responses={200: SegmentMemberSerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        try:
            return super().get(request, *args, **kwargs)
        except TreeError as exc:
            raise NotFound(f"The segment cannot be evaluated: {'; '.join(exc.errors)}.") from exc


class SegmentMembershipView(APIView):
    """Whether one player is in the segment now: the segment's tree evaluated for that player on the spot."""

    @extend_schema(
        tags=["segments"],
        summary="Check a player's membership",
        parameters=[SEGMENT_ID_PARAM, *PLAYER_PATH_PARAMS],
        responses={200: MembershipSerializer, **error_responses(400, 401, 403, 404)},
        description="404 when the segment or the player is not in your label.",
    )
    def get(self, request, segment_id: int, ext_brand_id: str, user_ext_id: str):
        segment = segment_for_actor(actor=request_actor(request), segment_id=segment_id)
        player = player_from_path(request, ext_brand_id, user_ext_id)
        if player.label_id != segment.label_id:
            raise NotFound("No such player.")
        body = {
            "segment_id": segment.pk,
            "ext_brand_id": player.brand.ext_brand_id,
            "user_ext_id": player.user_ext_id,
            "member": segment_contains(segment=segment, player_id=player.pk),
        }
        return Response(MembershipSerializer(body).data)
