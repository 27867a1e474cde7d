"""Partner API of automation rules (read): list your label's rules and read one, with what each fired."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from backoffice.errors import DomainValidationError
from crm.automation.selectors import rule_for_actor, rules_for_actor
from crm.models.rules import Rule, RuleKind, RuleStatus

RULE_ID_PARAM = OpenApiParameter(
    "rule_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The rule's id (GET /rules)."
)
STATUS_PARAM = OpenApiParameter(
    "status", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=list(RuleStatus.values), description="Only this status."
)
KIND_PARAM = OpenApiParameter(
    "kind", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=list(RuleKind.values), description="Only this kind."
)


class RuleStatsSerializer(serializers.Serializer):
    fired = serializers.IntegerField(help_text="Times the rule matched a player (applied + skipped + failed).")
    applied = serializers.IntegerField(help_text="Effects applied.")
    skipped = serializers.IntegerField(help_text="Effects skipped: caps, account not ACTIVE, control group.")
    failed = serializers.IntegerField(help_text="Effects whose activities were all refused or failed.")
    last_fired_at = serializers.DateTimeField(allow_null=True, help_text="When it last matched (UTC), or null.")


class RuleSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="The rule's id.")
    name = serializers.CharField(read_only=True, help_text="Name shown to staff.")
    description = serializers.CharField(read_only=True, help_text="What the rule is for (staff's words).")
    status = serializers.ChoiceField(RuleStatus.choices, read_only=True, help_text="Only an active rule fires.")
    kind = serializers.ChoiceField(
        RuleKind.choices, read_only=True, help_text="realtime (on an event) or scheduled (on a schedule)."
    )
    trigger_type = serializers.CharField(read_only=True, help_text="Real-time: the event type that fires it.")
    conditions = serializers.JSONField(
        read_only=True, help_text="Real-time: conditions on the event's fields, all must hold ({field, op, value})."
    )
    schedule = serializers.CharField(
        read_only=True, help_text="Scheduled: minute hour day-of-month month day-of-week, label time zone."
    )
    segment_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The segment it is limited to (GET /segments/{id}), or null."
    )
    segment_conditions = serializers.JSONField(
        read_only=True, help_text="A condition tree over the player's state limiting the audience ({}: everyone)."
    )
    activities = serializers.JSONField(read_only=True, help_text="What it does, in order (see docs/rules.md).")
    priority = serializers.IntegerField(read_only=True, help_text="Lower runs first on one event.")
    once_in_lifetime = serializers.BooleanField(read_only=True, help_text="At most once per player, ever.")
    cap_count = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Frequency cap: effects per player per period, or null."
    )
    cap_period = serializers.CharField(read_only=True, help_text="hour, day, week, month, ever, or empty.")
    stats = serializers.SerializerMethodField(help_text="What the rule did so far.")
    activated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="When last activated (UTC).")
    created_at = serializers.DateTimeField(read_only=True, help_text="When it was created (UTC).")
    updated_at = serializers.DateTimeField(read_only=True, help_text="When it last changed (UTC).")

    class Meta:
        model = Rule
        fields = ["id", "name", "description", "status", "kind", "trigger_type", "conditions", "schedule",
                  "segment_id", "segment_conditions", "activities", "priority", "once_in_lifetime", "cap_count",
                  "cap_period", "stats", "activated_at", "created_at", "updated_at"]  # fmt: skip

    @extend_schema_field(RuleStatsSerializer)
    def get_stats(self, obj: Rule) -> dict:
        return {
            "fired": obj.total_fired or 0,
            "applied": obj.total_applied or 0,
            "skipped": obj.total_skipped or 0,
            "failed": obj.total_failed or 0,
            "last_fired_at": obj.last_fired,
        }


class RuleListView(ListAPIView):
    """Your label's rules, newest first."""

    serializer_class = RuleSerializer

    def get_queryset(self):
        rules = rules_for_actor(actor=request_actor(self.request))
        for name, values in (("status", RuleStatus.values), ("kind", RuleKind.values)):
            value = self.request.query_params.get(name)
            if value is not None:
                if value not in values:
                    raise DomainValidationError({name: [f"One of: {', '.join(values)}."]})
                rules = rules.filter(**{name: value})
        return rules

    @extend_schema(tags=["rules"], summary="List automation rules", parameters=[STATUS_PARAM, KIND_PARAM],
                   responses={200: RuleSerializer(many=True), **error_responses(400, 401, 403)})  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class RuleDetailView(APIView):
    """One rule of your label; another label's id is 404."""

    @extend_schema(tags=["rules"], summary="Retrieve an automation rule", parameters=[RULE_ID_PARAM],
                   responses={200: RuleSerializer, **error_responses(401, 403, 404)})  # fmt: skip
    def get(self, request, rule_id: int):
        return Response(RuleSerializer(rule_for_actor(actor=request_actor(request), rule_id=rule_id)).data)
