"""Pitboss's own API of affiliate tracking (reads): affiliates, campaigns, tracking links, clicks, conversions, and the
report per affiliate or campaign. Writes happen in the admin; clicks and conversions come from /track and /convert."""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.pagination import CursorPagination
from backoffice.api.schema import error_responses
from backoffice.errors import DomainValidationError
from backoffice.filtersets import BaseFilterSet, IdInFilter, IsoDateTimeFilter, MultiValueCharFilter
from crm.models import Affiliate, Campaign, Click, Conversion, ConversionType, TrackingLink
from crm.selectors_affiliates import (
    GROUPS,
    affiliate_report,
    affiliates_for_actor,
    campaigns_for_actor,
    clicks_for_actor,
    conversions_for_actor,
    links_for_actor,
)

TAG = "affiliates"
MAX_REPORT_DAYS = 366


# --- serializers ---------------------------------------------------------------------------------------------------
class AffiliateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Affiliate
        fields = ["id", "code", "name", "contact_email", "is_active", "created_at", "updated_at"]
        read_only_fields = fields
        extra_kwargs = {"id": {"help_text": "The affiliate's id."}}


class CampaignSerializer(serializers.ModelSerializer):
    affiliate_id = serializers.IntegerField(read_only=True, help_text="Its affiliate (GET /affiliates/{id}).")
    ext_brand_id = serializers.CharField(
        source="brand.ext_brand_id", read_only=True, help_text="The brand it promotes."
    )

    class Meta:
        model = Campaign
        fields = ["id", "affiliate_id", "name", "ext_brand_id", "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class TrackingLinkSerializer(serializers.ModelSerializer):
    campaign_id = serializers.IntegerField(read_only=True, help_text="Its campaign.")
    tracking_url = serializers.SerializerMethodField(help_text="The URL to hand to the affiliate.")

    class Meta:
        model = TrackingLink
        fields = ["id", "campaign_id", "name", "tracking_url", "landing_url", "click_param", "is_active", "created_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_tracking_url(self, obj: TrackingLink) -> str:
        return reverse("tracking-link", kwargs={"token": obj.token}, request=self.context.get("request"))


class ClickSerializer(serializers.ModelSerializer):
    click_id = serializers.UUIDField(source="id", read_only=True, help_text="The click id the pixel reports on.")
    link_id = serializers.IntegerField(read_only=True)
    campaign_id = serializers.IntegerField(read_only=True)
    affiliate_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Click
        fields = ["click_id", "link_id", "campaign_id", "affiliate_id", "created_at", "landing_url", "referrer", "ip",
                  "user_agent", "params"]  # fmt: skip
        read_only_fields = fields


class ConversionSerializer(serializers.ModelSerializer):
    click_id = serializers.UUIDField(read_only=True)
    campaign_id = serializers.IntegerField(read_only=True)
    affiliate_id = serializers.IntegerField(read_only=True)
    player_id = serializers.CharField(source="player_ext_id", read_only=True, help_text="The pixel's player_id.")
    player_linked = serializers.SerializerMethodField(help_text="A player of the campaign's brand has this id.")
    amount = serializers.DecimalField(
        max_digits=14, decimal_places=2, read_only=True, allow_null=True, help_text="Deposits: the amount."
    )
    currency = serializers.CharField(read_only=True, help_text="Deposits with an amount: EUR, USD or GBP; else empty.")

    class Meta:
        model = Conversion
        fields = ["id", "click_id", "campaign_id", "affiliate_id", "type", "occurred_at", "received_at", "player_id",
                  "player_linked", "currency", "amount", "transaction_id", "ip", "user_agent", "referrer",
                  "logged_at"]  # fmt: skip
        read_only_fields = fields

    def get_player_linked(self, obj: Conversion) -> bool:
        return obj.player_id is not None


# --- filters -------------------------------------------------------------------------------------------------------
class AffiliateFilterSet(BaseFilterSet):
    code = MultiValueCharFilter(help_text="Affiliate codes (repeat for several).")
    is_active = filters.BooleanFilter(help_text="Only active (true) or inactive (false).")

    class Meta:
        model = Affiliate
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return queryset.filter(name__icontains=value) | queryset.filter(code__icontains=value)


class CampaignFilterSet(BaseFilterSet):
    affiliate_id = IdInFilter(field_name="affiliate_id", help_text="Affiliate ids, comma-separated.")
    is_active = filters.BooleanFilter(help_text="Only active (true) or inactive (false).")

    class Meta:
        model = Campaign
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        return queryset.filter(name__icontains=value)


class LinkFilterSet(CampaignFilterSet):
    affiliate_id = IdInFilter(field_name="campaign__affiliate_id", help_text="Affiliate ids.")
    campaign_id = IdInFilter(field_name="campaign_id", help_text="Campaign ids, comma-separated.")

    class Meta:
        model = TrackingLink
        fields: list[str] = []


class ClickFilterSet(filters.FilterSet):
    affiliate_id = IdInFilter(field_name="affiliate_id", help_text="Affiliate ids, comma-separated.")
    campaign_id = IdInFilter(field_name="campaign_id", help_text="Campaign ids, comma-separated.")
    link_id = IdInFilter(field_name="link_id", help_text="Tracking link ids, comma-separated.")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte", help_text="At or after (ISO 8601).")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601).")

    class Meta:
        model = Click
        fields: list[str] = []


class ConversionFilterSet(filters.FilterSet):
    affiliate_id = IdInFilter(field_name="affiliate_id", help_text="Affiliate ids, comma-separated.")
    campaign_id = IdInFilter(field_name="campaign_id", help_text="Campaign ids, comma-separated.")
    click_id = filters.UUIDFilter(field_name="click_id", help_text="One click's conversions.")
    type = filters.MultipleChoiceFilter(choices=ConversionType.choices, help_text="Types (repeat for several).")
    player_id = filters.CharFilter(field_name="player_ext_id", help_text="The pixel's player_id.")
    occurred_after = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte", help_text="At or after.")
    occurred_before = IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt", help_text="Before.")

    class Meta:
        model = Conversion
        fields: list[str] = []


class ClickPagination(CursorPagination):
    ordering = "-created_at"


# --- views ---------------------------------------------------------------------------------------------------------
def _list_view(name: str, serializer, filterset, selector, pagination=CursorPagination):
    class View(ListAPIView):
        serializer_class = serializer
        filterset_class = filterset
        pagination_class = pagination

        def get_queryset(self):
            return selector(actor=request_actor(self.request))

        @extend_schema(tags=[TAG], summary=f"List {name}", responses={200: serializer(many=True)})
        def get(self, request, *args, **kwargs):
            return super().get(request, *args, **kwargs)

    View.__name__ = View.__qualname__ = f"{name.title().replace(' ', '')}ListView"
    View.__doc__ = f"The {name} of your label, newest first, cursor-paginated."
    return View


def _detail_view(name: str, serializer, selector, kwarg: str, lookup: str = "pk", kind=OpenApiTypes.INT):
    param = OpenApiParameter(kwarg, kind, OpenApiParameter.PATH, description=f"The {name}'s id.")

    class View(RetrieveAPIView):
        serializer_class = serializer
        lookup_url_kwarg = kwarg
        lookup_field = lookup

        def get_queryset(self):
            return selector(actor=request_actor(self.request))

        @extend_schema(
            tags=[TAG], summary=f"Read one {name}", parameters=[param],
            responses={200: serializer, **error_responses(404)},
        )  # fmt: skip
        def get(self, request, *args, **kwargs):
            return super().get(request, *args, **kwargs)

    View.__name__ = View.__qualname__ = f"{name.title().replace(' ', '')}DetailView"
    View.__doc__ = f"One {name} of your label; another label's id answers 404."
    return View


AffiliateListView = _list_view("affiliates", AffiliateSerializer, AffiliateFilterSet, affiliates_for_actor)
AffiliateDetailView = _detail_view("affiliate", AffiliateSerializer, affiliates_for_actor, "affiliate_id")
CampaignListView = _list_view("campaigns", CampaignSerializer, CampaignFilterSet, campaigns_for_actor)
CampaignDetailView = _detail_view("campaign", CampaignSerializer, campaigns_for_actor, "campaign_id")
LinkListView = _list_view("tracking links", TrackingLinkSerializer, LinkFilterSet, links_for_actor)
LinkDetailView = _detail_view("tracking link", TrackingLinkSerializer, links_for_actor, "link_id")
ClickListView = _list_view("clicks", ClickSerializer, ClickFilterSet, clicks_for_actor, ClickPagination)
ClickDetailView = _detail_view("click", ClickSerializer, clicks_for_actor, "click_id", kind=OpenApiTypes.UUID)
ConversionListView = _list_view("conversions", ConversionSerializer, ConversionFilterSet, conversions_for_actor)
ConversionDetailView = _detail_view("conversion", ConversionSerializer, conversions_for_actor, "conversion_id")


# --- report --------------------------------------------------------------------------------------------------------
class ReportQuerySerializer(serializers.Serializer):
    start = serializers.DateField(required=False, help_text="First day (UTC), default 30 days before `end`.")
    end = serializers.DateField(required=False, help_text="Last day included (UTC), default today.")
    group = serializers.ChoiceField(choices=GROUPS, default="affiliate", help_text="One row per affiliate or campaign.")
    affiliate_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="Only this affiliate (and its campaigns)."
    )


class ReportRowSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="key", help_text="The affiliate's or the campaign's id.")
    name = serializers.CharField()
    affiliate = serializers.CharField(help_text="The affiliate (campaign rows).")
    clicks = serializers.IntegerField(help_text="Clicks made in the period.")
    installs = serializers.IntegerField(help_text="Install conversions that occurred in the period.")
    registrations = serializers.IntegerField()
    deposits = serializers.IntegerField()
    depositors = serializers.IntegerField(help_text="Clicks with a deposit in the period.")
    deposit_amounts = serializers.DictField(
        source="amounts", child=serializers.DecimalField(max_digits=18, decimal_places=2), help_text="Per currency."
    )
    registration_rate = serializers.FloatField(allow_null=True, help_text="registrations / clicks.")
    deposit_rate = serializers.FloatField(allow_null=True, help_text="depositors / registrations.")
    click_to_deposit_rate = serializers.FloatField(allow_null=True, help_text="depositors / clicks.")
    funnel = serializers.SerializerMethodField(help_text="The period's clicks and how far each got, skips counted.")

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_funnel(self, row) -> dict:
        return {
            "clicks": row.cohort_clicks,
            "installed": row.cohort_installed,
            "registered": row.cohort_registered,
            "deposited": row.cohort_deposited,
            "registered_without_install": row.registered_without_install,
            "deposited_without_registration": row.deposited_without_registration,
        }


class ReportView(APIView):
    """Clicks, installs, registrations, deposits, deposit amounts per currency, rates and the funnel with its skips,
    per affiliate or campaign of your label, for a period of UTC days."""

    pagination_class = None

    @extend_schema(
        tags=[TAG], summary="Report per affiliate or campaign", parameters=[ReportQuerySerializer],
        responses={200: ReportRowSerializer(many=True), **error_responses(400)},
    )  # fmt: skip
    def get(self, request):
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = report_period(query.validated_data.get("start"), query.validated_data.get("end"))
        rows = affiliate_report(
            actor=request_actor(request), start=start, end=end, group=query.validated_data["group"],
            affiliate_id=query.validated_data.get("affiliate_id"),
        )  # fmt: skip
        return Response(ReportRowSerializer(rows, many=True).data)


REPORT_DAYS = (dt.date(1970, 1, 1), dt.date(9999, 12, 30))  # first and last day a report may name


def report_period(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end + 1 day) in UTC; refuses a day out of range, a reversed or over-long period."""
    for name, day in (("start", start), ("end", end)):
        if day is not None and not REPORT_DAYS[0] <= day <= REPORT_DAYS[1]:
            raise DomainValidationError({name: [f"Must be between {REPORT_DAYS[0]} and {REPORT_DAYS[1]}."]})
    end = end or timezone.now().date()
    start = start or end - dt.timedelta(days=29)
    if start > end:
        raise DomainValidationError({"start": ["Must be on or before end."]})
    if (end - start).days >= MAX_REPORT_DAYS:
        raise DomainValidationError({"start": [f"The period is at most {MAX_REPORT_DAYS} days."]})
    begin = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    return begin, dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
