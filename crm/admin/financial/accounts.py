"""Customer accounts' financial view: each account's MRR and ARR today against its target; its page is the
account's dashboard with its orders."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Count, F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.models import Perm
from crm.admin.financial.orders import AppFilter
from crm.admin.financial.panel import (
    MONTH_CHOICES,
    as_of_and_months,
    csv_filename,
    dashboard_context,
    money,
    months_csv,
    percent,
)
from crm.models import AccountFinancialConfig, CustomerAccount, CustomerFinancials, Order
from crm.selectors_financial import account_financial_summary, account_mrr_on, with_mrr


class AccountAppFilter(AppFilter):
    def lookups(self, request, model_admin):
        apps = CustomerAccount.objects.for_actor(model_admin.actor(request)).order_by().values_list("app_id", flat=True)
        return [(app, app) for app in sorted(set(apps)) if app]


@admin.register(CustomerFinancials)
class CustomerFinancialsAdmin(LabelScopedAdmin):
    """Read-only: each account's MRR and ARR today against its target; its page is the account's dashboard."""

    list_display = ("account_id", "name", "app_id", "mrr_display", "arr_display", "target_display",
                    "attainment_display", "start_date", "orders_count", "label")  # fmt: skip
    list_select_related = ("label", "financial")
    list_filter = (("label", ScopedRelatedFilter), AccountAppFilter, ("status", ChoicesDropdownFilter))
    search_fields = ("=account_id", "name")
    search_help_text = "Exact account id, or part of its name"
    list_per_page = 50
    actions = None
    change_form_outer_after_template = "admin/crm/financial/account_panel.html"
    fields = (("account_id", "name"), ("app_id", "status"), ("start_date", "target_display"))

    def get_ordering(self, request):
        return ("-mrr_now", "account_id")  # biggest customers first (an annotation: not checkable as `ordering`)

    def get_fields(self, request, obj=None):
        return self.fields

    def get_readonly_fields(self, request, obj=None):
        return [f for row in self.fields for f in row]

    def get_queryset(self, request):
        # Not super(): ModelAdmin orders the rows before the annotation the ordering names exists.
        queryset = CustomerFinancials.objects.for_actor(self.actor(request)).select_related(*self.list_select_related)
        queryset = queryset.annotate(
            mrr_now=account_mrr_on(day=timezone.localdate()),
            target=F("financial__arr_target"),
            orders_n=Count("orders"),
        )
        return queryset.order_by(*self.get_ordering(request))

    @display(description="MRR now", ordering="mrr_now")
    def mrr_display(self, obj) -> str:
        return money(obj.mrr_now)

    @display(description="ARR now", ordering="mrr_now")
    def arr_display(self, obj) -> str:
        return money(obj.mrr_now * 12)

    @display(description="ARR target", ordering="target")
    def target_display(self, obj) -> str:
        return money(obj.target)

    @display(description="Of target")
    def attainment_display(self, obj) -> str:
        if not obj.target:
            return "—"
        share = obj.mrr_now * 12 / obj.target
        return badge(percent(share), "success" if share >= 1 else "warning" if share >= Decimal("0.8") else "danger")

    @display(description="Customer since")
    def start_date(self, obj) -> str:
        config = obj.financial if hasattr(obj, "financial") else None  # hasattr: no configuration yet
        return config.account_start_date.isoformat() if config else "—"

    @display(description="Orders", ordering="orders_n")
    def orders_count(self, obj) -> int:
        return obj.orders_n

    def change_view(self, request, object_id, form_url="", extra_context=None):
        account = self.get_object(request, object_id)
        if account is not None and request.GET.get("format") == "csv":
            as_of, months = as_of_and_months(request)
            summary = account_financial_summary(account=account, as_of=as_of, months=months)
            return months_csv(summary, filename=csv_filename("financial", account.account_id, str(as_of)))
        extra_context = extra_context or {}
        if account is not None:
            extra_context |= self._panel(request, account)
        return super().change_view(request, object_id, form_url, extra_context)

    def _panel(self, request, account: CustomerAccount) -> dict:
        as_of, months = as_of_and_months(request)
        summary = account_financial_summary(account=account, as_of=as_of, months=months)
        orders = with_mrr(Order.objects.filter(account=account)).order_by("-effective_date", "-id")
        config = AccountFinancialConfig.objects.filter(account=account).first()
        can_edit = self.actor(request).can(Perm.CONFIG_CHANGE, account.label_id)
        if config is not None:
            edit_url = reverse("admin:crm_accountfinancialconfig_change", args=[config.pk])
        else:
            edit_url = reverse("admin:crm_accountfinancialconfig_add") + f"?account={account.pk}"
        return {
            "fin": dashboard_context(summary, currency=account.label.base_currency, logos=False),
            "fin_orders": {
                "headers": ["Order", "Status", "App", "Amount", "Term", "MRR", "Effective", "End"],
                "rows": [_order_row(o) for o in orders[:200]],
            },
            "fin_as_of": as_of,
            "fin_csv_url": "?" + urlencode({"as_of": as_of, "months": months, "format": "csv"}),
            "fin_months": months,
            "month_choices": MONTH_CHOICES,
            "fin_edit_url": edit_url if can_edit else "",
            "fin_has_config": config is not None,
        }


def _order_row(order: Order) -> list:
    link = format_html(
        '<a class="text-primary-600" href="{}">{}</a>',
        reverse("admin:crm_order_change", args=[order.pk]),
        order.order_id,
    )
    return [link, order.status, order.app_id, money(order.amount), order.term_months, money(order.mrr),
            order.effective_date.isoformat(), order.end_date.isoformat()]  # fmt: skip
