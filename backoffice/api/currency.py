"""Exchange-rate endpoints: the label's rates into its base currency, listed, entered, corrected and removed.

A rate is keyed by its currency and first day, so entering one is naturally safe to repeat: the same rate again
answers 200 with the row already there, another rate for the same currency and day is refused naming it.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from backoffice.api.serializers import StrictSerializer
from backoffice.errors import DomainValidationError, NotFound
from backoffice.filtersets import ExchangeRateFilterSet
from backoffice.models import ExchangeRate, Label, Perm
from backoffice.models.currency import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS
from backoffice.scoping import Actor
from backoffice.services.currency import exchange_rate_create, exchange_rate_delete, exchange_rate_update

TAG = "exchange-rates"
RATE_HELP = (
    "How many units of the label's base currency one unit of `currency` is worth, > 0, at most "
    f'{RATE_DECIMAL_PLACES} decimals (e.g. "0.0875" for SEK in a EUR label). A decimal string; a JSON number is '
    "accepted too, but a string keeps every digit."
)


class RateField(serializers.DecimalField):
    """A rate as a plain decimal string without trailing zeros ("0.0875", "95000"): exact, whatever the client."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES, **kwargs)

    def to_representation(self, value) -> str:
        return format(Decimal(value).normalize(), "f")

    def validate_precision(self, value):
        # Trailing zeros carry no precision: a feed that writes every rate with 15 decimals ("0.087123456789000") is
        # accepted; a 13th significant decimal is refused, never rounded away.
        super().validate_precision(value.normalize() if value.is_finite() else value)
        return value


class ExchangeRateSerializer(serializers.ModelSerializer):
    label_key = serializers.CharField(source="label.label_key", read_only=True, help_text="Public key of the label.")
    base_currency = serializers.CharField(
        source="label.base_currency", read_only=True, help_text="The label's base currency: the rate's unit."
    )
    rate = RateField(read_only=True, help_text=RATE_HELP)

    class Meta:
        model = ExchangeRate
        fields = ["id", "label_key", "currency", "base_currency", "rate", "valid_from", "created_at", "updated_at"]
        read_only_fields = fields
        extra_kwargs = {
            "id": {"help_text": "The rate's id (used in its URL)."},
            "currency": {"help_text": "ISO 4217 code of the converted currency, in capitals."},
            "valid_from": {"help_text": "First day (label time zone) the rate applies to, until the next one."},
            "created_at": {"help_text": "When the rate was entered (UTC)."},
            "updated_at": {"help_text": "When the rate last changed (UTC)."},
        }


class ExchangeRateCreateSerializer(StrictSerializer):
    currency = serializers.CharField(
        max_length=3, help_text="ISO 4217 code in capitals (e.g. SEK); not the label's base currency."
    )
    rate = RateField(help_text=RATE_HELP)
    valid_from = serializers.DateField(help_text="First day (YYYY-MM-DD, label time zone) the rate applies to.")
    label_key = serializers.CharField(
        required=False, help_text="Only for staff with several labels: the label the rate is for."
    )


class ExchangeRateUpdateSerializer(StrictSerializer):
    rate = RateField(required=False, help_text=RATE_HELP)
    valid_from = serializers.DateField(required=False, help_text="A new first day (YYYY-MM-DD, label time zone).")


def _rates(actor: Actor):
    return ExchangeRate.objects.for_actor(actor).select_related("label")


def _rate_get(request, rate_id: int) -> ExchangeRate:
    """The actor's rate; another label's id answers 404 like a missing one."""
    rate = _rates(request_actor(request)).filter(pk=rate_id).first()
    if rate is None:
        raise NotFound("No exchange rate with this id in your label.")
    return rate


def _check_write(request, label_id: int) -> Actor:
    actor = request_actor(request)
    if not actor.can(Perm.RATES_WRITE, label_id):
        raise PermissionDenied("Your role may not change exchange rates.")
    return actor


def _label_for_write(actor: Actor, label_key: str | None) -> Label:
    """The label a new rate is for: the key's label, or the staff user's one label with the right (or `label_key`)."""
    labels = Label.objects.for_actor(actor, Perm.RATES_WRITE)
    if label_key:
        label = labels.filter(label_key=label_key).first()
        if label is None:
            raise DomainValidationError({"label_key": ["None of your labels where you may enter rates."]})
        return label
    found = list(labels[:2])
    if not found:
        raise PermissionDenied("Your role may not change exchange rates.")
    if len(found) > 1:
        raise DomainValidationError({"label_key": ["Required: you have several labels."]})
    return found[0]


RATE_ID = OpenApiParameter("rate_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The rate's id.")


class ExchangeRateListView(ListAPIView):
    """The label's exchange rates, newest first, cursor-paginated."""

    serializer_class = ExchangeRateSerializer
    filterset_class = ExchangeRateFilterSet

    def get_queryset(self):
        return _rates(request_actor(self.request))

    @extend_schema(
        tags=[TAG],
        summary="List exchange rates",
        responses={200: ExchangeRateSerializer(many=True), **error_responses(400, 401, 403)},
        description="Filter by `currency` (repeat for several) and `valid_on` (the rate each currency converts at "
        "on that day).",
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Enter an exchange rate",
        request=ExchangeRateCreateSerializer,
        responses={
            200: ExchangeRateSerializer,
            201: ExchangeRateSerializer,
            **error_responses(400, 401, 403),
        },
        description="201 when entered. The same rate for the same currency and day again answers 200 with the rate "
        "already there (a resent feed changes nothing); a different rate for that currency and day is refused "
        "(400, code `duplicate`, on `valid_from`): correct it with PATCH.",
    )
    def post(self, request, *args, **kwargs):
        body = ExchangeRateCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        actor = request_actor(request)
        label = _label_for_write(actor, data.get("label_key"))
        same = ExchangeRate.objects.for_label(label.pk).filter(
            currency=data["currency"], valid_from=data["valid_from"], rate=data["rate"]
        )
        existing = same.select_related("label").first()
        if existing is not None:
            return Response(ExchangeRateSerializer(existing).data, status=status.HTTP_200_OK)
        rate = exchange_rate_create(
            label=label,
            currency=data["currency"],
            rate=data["rate"],
            valid_from=data["valid_from"],
            api_key_id=actor.api_key_id,
        )
        return Response(ExchangeRateSerializer(rate).data, status=status.HTTP_201_CREATED)


class ExchangeRateDetailView(APIView):
    """One rate of the label."""

    @extend_schema(
        tags=[TAG],
        summary="Retrieve an exchange rate",
        parameters=[RATE_ID],
        responses={200: ExchangeRateSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, rate_id: int):
        return Response(ExchangeRateSerializer(_rate_get(request, rate_id)).data)

    @extend_schema(
        tags=[TAG],
        summary="Correct an exchange rate",
        parameters=[RATE_ID],
        request=ExchangeRateUpdateSerializer,
        responses={200: ExchangeRateSerializer, **error_responses(400, 401, 403, 404)},
        description="Changes the rate or its first day; the currency stays (delete and enter another). Amounts "
        "converted from now on use the corrected rate; mission progress and tournament scores already counted stay.",
    )
    def patch(self, request, rate_id: int):
        rate = _rate_get(request, rate_id)
        actor = _check_write(request, rate.label_id)
        body = ExchangeRateUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rate = exchange_rate_update(exchange_rate=rate, **body.validated_data, api_key_id=actor.api_key_id)
        return Response(ExchangeRateSerializer(rate).data)

    @extend_schema(
        tags=[TAG],
        summary="Delete an exchange rate",
        parameters=[RATE_ID],
        responses={204: None, **error_responses(401, 403, 404)},
        description="Its days fall back to the previous rate of the currency, or to none (amounts then count "
        "for nothing in missions and tournaments).",
    )
    def delete(self, request, rate_id: int):
        rate = _rate_get(request, rate_id)
        _check_write(request, rate.label_id)
        exchange_rate_delete(exchange_rate=rate)
        return Response(status=status.HTTP_204_NO_CONTENT)
