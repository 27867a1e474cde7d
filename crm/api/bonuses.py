"""Bonus endpoints: give a bonus (idempotent), list and read bonuses, and the operator's redeem callback."""

from __future__ import annotations

import hmac
from decimal import Decimal
from typing import Any

import django_filters as filters
from django.db.models import Q
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.idempotency import IdempotentPostView, idempotent_post_schema
from backoffice.api.schema import ErrorSerializer, error_responses
from backoffice.api.serializers import StrictSerializer
from backoffice.errors import DomainError, NotFound
from backoffice.filtersets import BaseFilterSet, MultiValueCharFilter
from backoffice.models import Perm
from backoffice.scoping import Actor
from crm.models import Bonus, BonusSource, BonusStatus, DeliveryState
from crm.selectors import player_get
from crm.selectors_bonuses import bonus_get, bonus_template_resolve, bonuses_for_actor
from crm.services.bonuses import bonus_give, bonus_redeem_record
from integrations.models import BonusApiConnection

GIVE_REFUSALS = (
    "422 refusals, by `code`: `account_not_active` (the player's account is not ACTIVE and the label gives such "
    "players no marketing), `bonus_cap_reached` (the player already has the label's daily cap of successful bonuses "
    "in the last 24 hours, 30 unless the label says otherwise), `template_inactive`. A refusal gives nothing, and the "
    "key may be used again later."
)


# --- serializers -----------------------------------------------------------------------------------------------------
class BonusTemplateRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True, help_text="Pitboss's id of the template.")
    operator_code = serializers.CharField(read_only=True, help_text="The operator's code of the bonus.")
    name = serializers.CharField(read_only=True, help_text="Name shown to staff.")
    public_name = serializers.CharField(source="display_name", read_only=True, help_text="Name shown to players.")
    type = serializers.CharField(read_only=True, help_text="cash, free_spins, deposit_match or coupon.")


class BonusSerializer(serializers.ModelSerializer):
    ext_brand_id = serializers.CharField(
        source="player.brand.ext_brand_id", read_only=True, help_text="The brand's id."
    )
    user_ext_id = serializers.CharField(source="player.user_ext_id", read_only=True, help_text="The player's id.")
    template = BonusTemplateRefSerializer(read_only=True, help_text="The bonus template given.")
    status = serializers.ChoiceField(
        choices=BonusStatus.choices,
        read_only=True,
        help_text="new (being issued), issued, redeemed, redeem_failed, issue_failed, expired.",
    )
    delivery_state = serializers.ChoiceField(
        choices=DeliveryState.choices,
        read_only=True,
        help_text="The call to the operator: pending, in_flight, done, unknown (no answer yet: it is being looked "
        "up), failed.",
    )
    source = serializers.ChoiceField(
        choices=BonusSource.choices, read_only=True, help_text="Who gave it: rule, staff, store or api."
    )

    class Meta:
        model = Bonus
        fields = [
            "id", "ext_brand_id", "user_ext_id", "template", "status", "delivery_state", "source", "key", "amount",
            "reason", "idempotency_key", "operator_bonus_id", "attempts", "last_error", "issued_at", "redeemed_at",
            "expires_at", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {"id": {"help_text": "Pitboss's id of the bonus."}}


class BonusGiveInputSerializer(StrictSerializer):
    ext_brand_id = serializers.CharField(max_length=64, help_text="Your brand id of the player.")
    user_ext_id = serializers.CharField(max_length=128, help_text="Your id of the player.")
    label_key = serializers.CharField(
        max_length=64, required=False, help_text="Only for staff whose labels share the brand id."
    )
    template_id = serializers.IntegerField(
        required=False, min_value=1, help_text="Pitboss's id of the bonus template (or give operator_code)."
    )
    operator_code = serializers.CharField(
        max_length=128, required=False, help_text="The operator's code of the template (or give template_id)."
    )
    amount = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        min_value=Decimal("0.01"),
        help_text="An amount for this give, sent to the operator (omit: the template's own).",
    )
    reason = serializers.CharField(max_length=500, required=False, default="", help_text="Why it is given.")
    idempotency_key = serializers.CharField(
        max_length=200, required=False, help_text="Your unique key of this give (or the Idempotency-Key header)."
    )

    def validate(self, attrs):
        if ("template_id" in attrs) == ("operator_code" in attrs):
            raise serializers.ValidationError({"template_id": ["Give exactly one of template_id and operator_code."]})
        return attrs


class BonusGiveResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when the key was already used: nothing was given again.")
    bonus = BonusSerializer(help_text="The bonus (status new until the operator confirms it).")


class RedeemInputSerializer(StrictSerializer):
    idempotency_key = serializers.CharField(max_length=64, help_text="The key Pitboss sent with the issue call.")
    status = serializers.ChoiceField(
        choices=[("redeemed", "redeemed"), ("redeem_failed", "redeem_failed")],
        help_text="redeemed, or redeem_failed when the player's redemption failed.",
    )
    operator_bonus_id = serializers.CharField(
        max_length=128, required=False, help_text="Your id of the bonus (kept if Pitboss had none yet)."
    )
    error = serializers.CharField(
        max_length=2000, required=False, default="", help_text="Why the redemption failed (redeem_failed)."
    )


class RedeemResultSerializer(serializers.Serializer):
    bonus_id = serializers.IntegerField(source="bonus.pk", help_text="Pitboss's id of the bonus.")
    status = serializers.CharField(source="bonus.status", help_text="The bonus's status now.")
    changed = serializers.BooleanField(help_text="False when the bonus already had this status.")


# --- filters ---------------------------------------------------------------------------------------------------------
class BonusFilterSet(BaseFilterSet):
    status = filters.MultipleChoiceFilter(choices=BonusStatus.choices, help_text="Statuses (repeat for several).")
    delivery_state = filters.MultipleChoiceFilter(choices=DeliveryState.choices, help_text="Delivery states.")
    source = filters.MultipleChoiceFilter(choices=BonusSource.choices, help_text="Who gave it.")
    template_id = filters.NumberFilter(field_name="template_id", help_text="Pitboss's id of the template.")
    operator_code = MultiValueCharFilter(field_name="template__operator_code", help_text="Templates' operator codes.")
    ext_brand_id = MultiValueCharFilter(field_name="player__brand__ext_brand_id", help_text="Brand ids.")
    user_ext_id = MultiValueCharFilter(field_name="player__user_ext_id", help_text="Player ids.")

    class Meta:
        model = Bonus
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        """`q`: an exact key, idempotency key or operator bonus id."""
        return queryset.filter(Q(key=value) | Q(idempotency_key=value) | Q(operator_bonus_id=value))


# --- views -----------------------------------------------------------------------------------------------------------
@extend_schema_view(
    post=idempotent_post_schema(
        tags=["bonuses"],
        summary="Give a bonus to a player",
        request=BonusGiveInputSerializer,
        response=BonusGiveResultSerializer,
        description="Gives a bonus template (by `template_id` or `operator_code`) once per idempotency key: 201 "
        "when given, 200 when the key was already used for the same player and template, 409 when it was used for "
        "another. The operator's Bonus API is called right after, by a worker: the bonus is `new` until the "
        f"operator confirms it (`issued`), then follow it with GET /bonuses/{{id}}. {GIVE_REFUSALS} 404: no such "
        "player or template in your label.",
    )
)
class BonusListCreateView(ListAPIView, IdempotentPostView):
    """Bonuses of your label, newest first (GET); give one (POST)."""

    serializer_class = BonusSerializer
    filterset_class = BonusFilterSet
    input_serializer_class = BonusGiveInputSerializer
    output_serializer_class = BonusGiveResultSerializer

    def get_queryset(self):
        return bonuses_for_actor(actor=request_actor(self.request))

    @extend_schema(
        tags=["bonuses"],
        summary="List bonuses",
        responses={200: BonusSerializer(many=True), **error_responses(400, 401, 403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def subject(self, request: Request, **path: Any) -> tuple[Actor, Request]:
        actor = request_actor(request)
        if not actor.can_anywhere(Perm.PLAYER_ACT):
            raise PermissionDenied("Your role may not give bonuses.")
        return actor, request

    def perform(self, subject, data, *, key, created_by, **path):
        actor, _ = subject
        player = player_get(
            actor=actor, ext_brand_id=data["ext_brand_id"], user_ext_id=data["user_ext_id"],
            label_key=data.get("label_key"),
        )  # fmt: skip
        if not actor.can(Perm.PLAYER_ACT, player.label_id):
            raise PermissionDenied("Your role may not give bonuses.")
        template = bonus_template_resolve(
            label_id=player.label_id, template_id=data.get("template_id"), operator_code=data.get("operator_code")
        )
        if template is None:
            field = "template_id" if "template_id" in data else "operator_code"
            raise NotFound("No such bonus template in the player's label.", errors={field: ["Not found."]})
        return bonus_give(
            player=player,
            template=template,
            source=BonusSource.STAFF if created_by is not None else BonusSource.API,
            key=key,
            created_by=created_by,
            reason=data.get("reason", ""),
            amount=data.get("amount"),
        )

    def output(self, subject, result):
        return {"created": result.created, "bonus": result}


class BonusDetailView(APIView):
    @extend_schema(
        tags=["bonuses"],
        summary="A bonus and its status",
        parameters=[OpenApiParameter("bonus_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Its id.")],
        responses={200: BonusSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, bonus_id: int):
        return Response(BonusSerializer(bonus_get(actor=request_actor(request), bonus_id=bonus_id)).data)


class RedeemCallbackView(APIView):
    """The operator tells Pitboss that a bonus was redeemed (docs/bonus-api.md), authenticated with the label's
    Bonus API secret as a Bearer token: not a partner API key."""

    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(
        tags=["bonuses"],
        summary="Redeem callback (the operator calls it)",
        description="Your Bonus API reports a bonus redeemed, or its redemption failed, by the idempotency key "
        "Pitboss sent when issuing it. Authenticate with `Authorization: Bearer <the label's Bonus API secret>`. "
        "Idempotent: the same status again answers 200 with `changed` false. 409 `not_redeemable` when the bonus "
        "expired or its issue failed.",
        parameters=[OpenApiParameter("label_key", OpenApiTypes.STR, OpenApiParameter.PATH, description="The label.")],
        request=RedeemInputSerializer,
        responses={
            200: RedeemResultSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Unknown label, or not its Bonus API secret."),
            **error_responses(404, 409),
        },
        auth=[],
    )
    def post(self, request, label_key: str):
        label_id = _callback_label(request, label_key)
        serializer = RedeemInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = bonus_redeem_record(
            label_id=label_id,
            idempotency_key=data["idempotency_key"],
            status=data["status"],
            error=data["error"],
            operator_bonus_id=data.get("operator_bonus_id", ""),
        )
        return Response(RedeemResultSerializer(result).data)


class CallbackAuthenticationFailed(DomainError):
    status_code = 401
    default_code = "authentication_failed"


def _callback_label(request, label_key: str) -> int:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else ""
    conn = BonusApiConnection.objects.filter(label__label_key=label_key).first()
    if conn is None or not token or not hmac.compare_digest(token.encode(), conn.secret.encode()):
        raise CallbackAuthenticationFailed(
            "Unknown label, or not its Bonus API secret (Authorization: Bearer <secret>)."
        )
    return conn.label_id
