"""Orders in the admin: read-only (the partner's systems own them), with each order's term and MRR, and filters."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter, RangeDateFilter, TextFilter
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from crm.admin.financial.panel import money
from crm.models import Order, OrderChange
from crm.selectors_financial import with_mrr


class AppFilter(DropdownFilter):
    title = "app"
    parameter_name = "app_id"

    def lookups(self, request, model_admin):
        apps = model_admin.get_queryset(request).order_by().values_list("app_id", flat=True).distinct()
        return [(app, app) for app in sorted(apps)]

    def queryset(self, request, queryset):
        return queryset.filter(app_id=self.value()) if self.value() else queryset


class AccountIdFilter(TextFilter):
    title = "customer account id"
    parameter_name = "account_id"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(account__account_id=value) if value else queryset


class ActiveOnFilter(TextFilter):
    title = "active on (yyyy-mm-dd)"
    parameter_name = "active_on"

    def queryset(self, request, queryset):
        try:
            day = dt.date.fromisoformat((self.value() or "").strip())
        except ValueError:
            return queryset
        return queryset.filter(effective_date__lte=day, end_date__gte=day)


@admin.register(Order)
class OrderAdmin(LabelScopedAdmin):
    """Read-only: the partner's systems own orders (POST /dashboards/v4/financial/orders)."""

    list_display = ("order_id", "account_link", "app_id", "status_badge", "amount_display", "term_months_display",
                    "mrr_display", "effective_date", "end_date", "label")  # fmt: skip
    list_select_related = ("account", "label")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("status", ChoicesDropdownFilter),
        AppFilter,
        AccountIdFilter,
        ActiveOnFilter,
        ("effective_date", RangeDateFilter),
        ("end_date", RangeDateFilter),
    )
    list_filter_submit = True
    search_fields = ("=order_id", "=account__account_id", "account__name", "=org_product_id")
    search_help_text = "Exact order id, account id or product id; or part of the account's name"
    list_per_page = 50
    actions = None
    change_form_outer_after_template = "admin/crm/financial/order_history.html"
    fields = (("order_id", "status_badge"), ("account_link", "app_id", "org_product_id"),
              ("amount_display", "term_months_display", "mrr_display"), ("effective_date", "end_date"),
              ("created_at", "updated_at"))  # fmt: skip

    def get_fields(self, request, obj=None):
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [f for row in self.fields for f in row]

    def get_queryset(self, request):
        return with_mrr(super().get_queryset(request))

    @display(description="Account", ordering="account__name")
    def account_link(self, obj) -> str:
        url = reverse("admin:crm_customerfinancials_change", args=[obj.account_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.account)

    @display(description="Status", ordering="status")
    def status_badge(self, obj) -> str:
        return badge(obj.status, "success" if obj.status == "Activated" else "")

    @display(description="Amount", ordering="amount")
    def amount_display(self, obj) -> str:
        return money(obj.amount)

    @display(description="Term (months)", ordering="term_months")
    def term_months_display(self, obj) -> int:
        return obj.term_months

    @display(description="MRR", ordering="mrr")
    def mrr_display(self, obj) -> str:
        return money(obj.mrr) if obj.status == "Activated" else format_html("<span title='Draft'>({})</span>",
                                                                             money(obj.mrr))  # fmt: skip

    def change_view(self, request, object_id, form_url="", extra_context=None):
        order = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if order is not None:
            extra_context["order_history"] = history_table(order)
        return super().change_view(request, object_id, form_url, extra_context)


def history_table(order: Order) -> dict:
    """Every recorded write of the order (by its id in the label, so a deleted and re-created order keeps its past)."""
    changes = OrderChange.objects.filter(label_id=order.label_id, order_ref=order.order_id).order_by("-id")[:100]
    rows = [
        [timezone.localtime(c.created_at).strftime("%Y-%m-%d %H:%M:%S"), c.get_kind_display(),
         format_html_join(", ", "{}: {} → {}", ((f, before, after) for f, (before, after) in c.changes.items()))]
        for c in changes
    ]  # fmt: skip
    return {"headers": ["When", "What", "Changes (before → after)"], "rows": rows}
