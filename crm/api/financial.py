"""Pitboss's own API of financial data (read): orders, and the dashboards' figures for an app, an account or the
whole label. Writes go through the SmartKarrot-compatible endpoints (/dashboards/v4/financial/) or the admin."""

from __future__ import annotations

import datetime as dt

import django_filters as filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice.api.authentication import request_actor
from backoffice.api.schema import error_responses
from backoffice.errors import DomainValidationError, NotFound
from backoffice.filtersets import BaseFilterSet, MultiValueCharFilter
from backoffice.models import Label
from crm.models import CustomerAccount, Order, OrderStatus
from crm.selectors_financial import (
    FinancialSummary,
    account_financial_summary,
    app_financial_summary,
    order_for_actor,
    orders_for_actor,
)

MAX_MONTHS = 60
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(9998, 12, 31)  # room for the months before and after


class OrderSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(read_only=True, help_text="Pitboss's id of the order.")
    order_id = serializers.CharField(read_only=True, help_text="Your id of the order (SmartKarrot orderId).")
    account_id = serializers.CharField(
        source="account.account_id", read_only=True, help_text="Your id of the customer account."
    )
    account_name = serializers.CharField(source="account.name", read_only=True, help_text="The account's name.")
    app_id = serializers.CharField(read_only=True, help_text="Your app id (SmartKarrot appId).")
    org_product_id = serializers.CharField(read_only=True, help_text="Your product id (orgProductId).")
    status = serializers.ChoiceField(OrderStatus.choices, read_only=True, help_text="Activated or Draft.")
    amount = serializers.DecimalField(
        max_digits=18, decimal_places=2, read_only=True, help_text="Total value over the term (base currency)."
    )
    effective_date = serializers.DateField(read_only=True, help_text="First day of the term.")
    end_date = serializers.DateField(read_only=True, help_text="Last day of the term (included).")
    term_months = serializers.IntegerField(read_only=True, help_text="The term in whole months (docs/financial.md).")
    mrr = serializers.DecimalField(
        max_digits=18, decimal_places=2, read_only=True, help_text="amount / term_months, when Activated."
    )

    class Meta:
        model = Order
        fields = ["id", "order_id", "account_id", "account_name", "app_id", "org_product_id", "status", "amount",
                  "effective_date", "end_date", "term_months", "mrr", "created_at", "updated_at"]  # fmt: skip


class OrderFilterSet(BaseFilterSet):
    status = filters.MultipleChoiceFilter(choices=OrderStatus.choices, help_text="Statuses (repeat for several).")
    app_id = MultiValueCharFilter(field_name="app_id", help_text="App ids (repeat for several).")
    account_id = MultiValueCharFilter(field_name="account__account_id", help_text="Customer account ids.")
    active_on = filters.DateFilter(method="filter_active_on", help_text="Only orders whose term covers this day.")
    effective_after = filters.DateFilter(
        field_name="effective_date", lookup_expr="gte", help_text="Effective on or after this day."
    )
    effective_before = filters.DateFilter(
        field_name="effective_date", lookup_expr="lt", help_text="Effective before this day."
    )
    ends_before = filters.DateFilter(field_name="end_date", lookup_expr="lt", help_text="Ending before this day.")

    class Meta:
        model = Order
        fields: list[str] = []

    def filter_q(self, queryset, name, value):
        """`q`: an exact order id, account id or product id."""
        return queryset.filter(Q(order_id=value) | Q(account__account_id=value) | Q(org_product_id=value))

    def filter_active_on(self, queryset, name, value):
        return queryset.filter(effective_date__lte=value, end_date__gte=value)


class MonthSerializer(serializers.Serializer):
    month = serializers.DateField(help_text="The month's first day.")
    mrr = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR at the month's snapshot day.")
    arr = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR * 12.")
    new = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR of accounts new this month.")
    reactivation = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text="MRR of accounts back after a month or more without."
    )
    expansion = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR gained by paying accounts.")
    contraction = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text="MRR lost by accounts still paying."
    )
    churned = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR of accounts that left.")
    net_new = serializers.DecimalField(
        max_digits=20, decimal_places=2, help_text="new + reactivation + expansion - contraction - churned."
    )
    logos_start = serializers.IntegerField(help_text="Paying accounts at the start of the month.")
    logos_new = serializers.IntegerField(help_text="Accounts paying again or for the first time.")
    logos_churned = serializers.IntegerField(help_text="Accounts that stopped paying.")
    logos_end = serializers.IntegerField(help_text="Paying accounts at the snapshot day.")
    logo_churn_rate = serializers.DecimalField(
        max_digits=7, decimal_places=4, allow_null=True, help_text="logos_churned / logos_start (null: no logos)."
    )
    over_tolerance = serializers.BooleanField(help_text="The logo churn rate is above the app's tolerance.")


MONTH_FIELDS = list(MonthSerializer().fields)


class DashboardSerializer(serializers.Serializer):
    as_of = serializers.DateField(help_text="The day the figures are taken on.")
    app_id = serializers.CharField(allow_null=True, help_text="The app (null: every app of the label).")
    account_id = serializers.CharField(allow_null=True, help_text="The customer account (null: all).")
    currency = serializers.CharField(help_text="The label's base currency: the amounts' currency.")
    mrr = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="MRR as of `as_of`.")
    arr = serializers.DecimalField(max_digits=20, decimal_places=2, help_text="ARR (MRR * 12) as of `as_of`.")
    arr_target = serializers.DecimalField(
        max_digits=20, decimal_places=2, allow_null=True, help_text="The account's ARR target (an app: the sum)."
    )
    attainment = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True, help_text="arr / arr_target (null without a target)."
    )
    logo_churn_tolerance = serializers.DecimalField(
        max_digits=5, decimal_places=4, allow_null=True, help_text="The app's logo churn tolerance."
    )
    account_start_date = serializers.DateField(allow_null=True, help_text="An account's start date, if set.")
    months = MonthSerializer(many=True, help_text="Oldest first, the last one is the month of `as_of`.")


class OrderListView(ListAPIView):
    """Your label's orders, newest first."""

    serializer_class = OrderSerializer
    filterset_class = OrderFilterSet

    def get_queryset(self):
        return orders_for_actor(actor=request_actor(self.request))

    @extend_schema(tags=["financial"], summary="List orders",
                   responses={200: OrderSerializer(many=True), **error_responses(400, 401, 403)})  # fmt: skip
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class OrderDetailView(APIView):
    """One order of your label; another label's id is 404."""

    @extend_schema(
        tags=["financial"],
        summary="Retrieve an order",
        parameters=[OpenApiParameter("order_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Pitboss's id.")],
        responses={200: OrderSerializer, **error_responses(401, 403, 404)},
    )
    def get(self, request, order_pk: int):
        return Response(OrderSerializer(order_for_actor(actor=request_actor(request), pk=order_pk)).data)


DASHBOARD_PARAMS = [
    OpenApiParameter("app_id", OpenApiTypes.STR, description="One app (omit: every app of the label)."),
    OpenApiParameter("account_id", OpenApiTypes.STR, description="One customer account (your id)."),
    OpenApiParameter("as_of", OpenApiTypes.DATE, description="The day to take the figures on (default: today)."),
    OpenApiParameter("months", OpenApiTypes.INT, description=f"Months to show, 1 to {MAX_MONTHS} (default 12)."),
    OpenApiParameter("label_key", OpenApiTypes.STR, description="Staff with several labels: which one."),
]


class FinancialDashboardView(APIView):
    """The dashboards' figures: MRR, ARR and their movements by month, logo churn, against the ARR target."""

    @extend_schema(tags=["financial"], summary="Financial figures by month", parameters=DASHBOARD_PARAMS,
                   description="404: no customer account with this account_id in your label.",
                   responses={200: DashboardSerializer, **error_responses(400, 401, 403, 404)})  # fmt: skip
    def get(self, request):
        params = _dashboard_params(request.query_params)
        label_ids = request_actor(request).label_ids
        label = _one_label(request, label_ids)
        as_of, months = params["as_of"], params["months"]
        if params["account_id"] is not None:
            account = CustomerAccount.objects.filter(label=label, account_id=params["account_id"]).first()
            if account is None:
                raise NotFound("No customer account with this account_id in your label.")
            summary = account_financial_summary(account=account, as_of=as_of, months=months)
        else:
            summary = app_financial_summary(label_id=label.pk, app_id=params["app_id"], as_of=as_of, months=months)
        return Response(DashboardSerializer(dashboard_data(summary, params, label.base_currency)).data)


def _dashboard_params(query) -> dict:
    errors: dict[str, list[str]] = {}
    values: dict = {"app_id": query.get("app_id") or None, "account_id": query.get("account_id") or None}
    try:
        values["as_of"] = dt.date.fromisoformat(query["as_of"]) if query.get("as_of") else timezone.localdate()
    except ValueError:
        errors["as_of"] = ["A date, yyyy-mm-dd."]
    else:
        if not EARLIEST <= values["as_of"] <= LATEST:
            errors["as_of"] = [f"Between {EARLIEST} and {LATEST}."]
    raw = query.get("months", "12")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_MONTHS:
        errors["months"] = [f"A whole number from 1 to {MAX_MONTHS}."]
    else:
        values["months"] = int(raw)
    for name in ("app_id", "account_id"):
        if values[name] is not None and len(values[name]) > 128:
            errors[name] = ["At most 128 characters."]
    if errors:
        raise DomainValidationError(errors)
    return values


def _one_label(request, label_ids) -> Label:
    key = request.query_params.get("label_key")
    labels = Label.objects.filter(pk__in=label_ids)
    if key:
        labels = labels.filter(label_key=key)
    labels = list(labels[:2])
    if len(labels) != 1:
        raise DomainValidationError({"label_key": ["Name one of your labels." if labels else "Not one of yours."]})
    return labels[0]


def dashboard_data(summary: FinancialSummary, params: dict, currency: str) -> dict:
    return {
        "as_of": summary.as_of,
        "app_id": params["app_id"],
        "account_id": params["account_id"],
        "currency": currency,
        "mrr": summary.mrr,
        "arr": summary.arr,
        "arr_target": summary.arr_target,
        "attainment": summary.attainment,
        "logo_churn_tolerance": summary.tolerance,
        "account_start_date": summary.account_start_date,
        "months": [{name: getattr(m, name) for name in MONTH_FIELDS} for m in summary.months],
    }
