"""Wallet endpoints: a player's balances, their ledger, and adjustments by partners with an idempotency key."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.idempotency import idempotent_post_schema
from backoffice.api.players import PLAYER_PATH_PARAMS, PlayerIdempotentPostView, player_from_path
from backoffice.api.schema import error_responses
from gamification.api.serializers import (
    LevelSerializer,
    StoreItemSerializer,
    StorePurchaseInputSerializer,
    StorePurchaseResultSerializer,
    WalletAdjustmentInputSerializer,
    WalletAdjustmentResultSerializer,
    WalletEntrySerializer,
    WalletSerializer,
)
from gamification.models import WalletEntry, WalletSource
from gamification.selectors import (
    levels_for_actor,
    store_item_get,
    store_items_for_player,
    wallet_entries,
    wallet_get,
)
from gamification.services.credits import wallet_adjust_by_staff
from gamification.services.store import store_purchase
from gamification.services.wallet import wallet_adjust


class LevelListView(APIView):
    @extend_schema(
        tags=["wallet"],
        summary="The levels of your label",
        responses={200: LevelSerializer(many=True), **error_responses(401, 403)},
        description="The ladder, lowest first: a player is at the highest level their ever-earned points reach "
        "(or at one bought in the store, until the points pass it). Names and descriptions per language.",
    )
    def get(self, request):
        return Response(LevelSerializer(levels_for_actor(actor=request_actor(request)), many=True).data)


class WalletView(APIView):
    @extend_schema(
        tags=["wallet"],
        summary="A player's balances",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: WalletSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        return Response(WalletSerializer(wallet_get(player=player_from_path(request, ext_brand_id, user_ext_id))).data)


class WalletEntryListView(ListAPIView):
    """The player's ledger, newest first, cursor-paginated."""

    serializer_class = WalletEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no player to look up
            return WalletEntry.objects.none()
        player = player_from_path(self.request, self.kwargs["ext_brand_id"], self.kwargs["user_ext_id"])
        return wallet_entries(player=player)

    @extend_schema(
        tags=["wallet"],
        summary="A player's wallet ledger",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: WalletEntrySerializer(many=True), **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


@extend_schema_view(
    post=idempotent_post_schema(
        tags=["wallet"],
        summary="Adjust a player's balance",
        parameters=PLAYER_PATH_PARAMS,
        request=WalletAdjustmentInputSerializer,
        response=WalletAdjustmentResultSerializer,
        description="Credits or debits one balance once per idempotency key: 201 when applied, 200 when the key was "
        "already used for the same adjustment (nothing changes), 409 when it was used for a different one, "
        "422 `insufficient_balance` when a debit would take the balance below zero. A staff member calling with "
        "their admin session is held to their role's credit caps: above them 422 `approval_required` (a credit "
        "above a cap is asked for in the admin, where another staff member approves it).",
    )
)
class WalletAdjustmentView(PlayerIdempotentPostView):
    act = "adjust balances"
    input_serializer_class = WalletAdjustmentInputSerializer
    output_serializer_class = WalletAdjustmentResultSerializer

    def perform(self, subject, data, *, key, created_by, **path):
        if created_by is not None:  # staff with an admin session: the caps of the admin's form
            return wallet_adjust_by_staff(
                player=subject,
                currency=data["currency"],
                amount=data["amount"],
                source=WalletSource.API,
                key=key,
                reason=data.get("reason", ""),
                staff=created_by,
            )
        return wallet_adjust(
            player=subject,
            currency=data["currency"],
            amount=data["amount"],
            source=WalletSource.API,
            key=key,
            reason=data.get("reason", ""),
            created_by=created_by,
        )


class StoreView(APIView):
    @extend_schema(
        tags=["store"],
        summary="The store as a player sees it",
        parameters=PLAYER_PATH_PARAMS,
        responses={200: StoreItemSerializer(many=True), **error_responses(400, 401, 403, 404)},
        description="Items on sale now, with the price, the stock left, the purchases the player may still make in "
        "the cap period, and whether their balance covers the price.",
    )
    def get(self, request, ext_brand_id: str, user_ext_id: str):
        player = player_from_path(request, ext_brand_id, user_ext_id)
        return Response(StoreItemSerializer(store_items_for_player(player=player), many=True).data)


@extend_schema_view(
    post=idempotent_post_schema(
        tags=["store"],
        summary="Buy a store item for a player",
        parameters=PLAYER_PATH_PARAMS,
        request=StorePurchaseInputSerializer,
        response=StorePurchaseResultSerializer,
        description="Debits the price and delivers the item in one step, once per idempotency key: 201 when bought, "
        "200 when the key was already used for the same purchase, 409 when used for another one. 422 refusals, by "
        "`code`: `inactive` (not on sale), `control_group`, `limit_reached` (purchase cap of the period), "
        "`out_of_stock`, `insufficient_balance`, `already_at_level` (a level item at or below the player's level). "
        "A refusal changes nothing.",
    )
)
class StorePurchaseView(PlayerIdempotentPostView):
    act = "buy for players"
    input_serializer_class = StorePurchaseInputSerializer
    output_serializer_class = StorePurchaseResultSerializer

    def perform(self, subject, data, *, key, created_by, **path):
        return store_purchase(player=subject, item=store_item_get(player=subject, item_id=data["item_id"]), key=key)

    def output(self, subject, result):
        return {"created": result.created, "purchase": result.purchase, "wallet": wallet_get(player=subject)}
