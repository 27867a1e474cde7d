"""Financial data in the admin: the financial dashboard (per app, or the whole label), customer accounts' financial
view (MRR, ARR against target, orders, the account's dashboard), the orders list with filters, and the app and account
financial configuration.

Orders come from the partner's systems (the SmartKarrot-compatible API): read-only here, like players. The app's logo
churn tolerance and the accounts' start dates and ARR targets are configuration (Perm.CONFIG_CHANGE: admins and
managers); everyone with a role in the label reads. Figures: crm/selectors_financial.py, defined in docs/financial.md.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter, RangeDateFilter, TextFilter
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.models import Label, Perm
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount, CustomerFinancials, Order
from crm.selectors_financial import (
    FinancialSummary,
    account_financial_summary,
    account_mrr_on,
    app_financial_summary,
    app_ids,
    with_mrr,
)

MONTH_CHOICES = (6, 12, 24, 36)
COLOURS = {
    "mrr": "var(--color-primary-600)",
    "new": "var(--color-green-500)",
    "reactivation": "var(--color-blue-500)",
    "expansion": "var(--color-green-300)",
    "contraction": "var(--color-orange-500)",
    "churned": "var(--color-red-500)",
    "target": "var(--color-base-400)",
}
STACKED = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"x": {"stacked": True, "grid": {"display": False}}, "y": {"stacked": True}},
    }
)
LINES = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"y": {"beginAtZero": True}, "x": {"grid": {"display": False}}},
    }
)


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.2f}{' ' + currency if currency else ''}"


def percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


# --- the dashboard panel, shared by the dashboard page and an account's page -------------------------------------
def dashboard_context(summary: FinancialSummary, *, currency: str, logos: bool) -> dict:
    """Headline cards, the charts' data and the months' table of one summary."""
    months = summary.months
    labels = [m.month.strftime("%b %Y") for m in months]
    movements = {
        "labels": labels,
        "datasets": [
            {"type": "line", "label": "MRR", "data": [float(m.mrr) for m in months], "borderColor": COLOURS["mrr"],
             "backgroundColor": COLOURS["mrr"], "pointRadius": 2, "stack": "mrr"},
            *({"label": name.capitalize(), "data": [float(sign * getattr(m, name)) for m in months],
               "backgroundColor": COLOURS[name], "stack": "moves"}
              for name, sign in (("new", 1), ("reactivation", 1), ("expansion", 1), ("contraction", -1),
                                 ("churned", -1))),
        ],
    }  # fmt: skip
    arr = {
        "labels": labels,
        "datasets": [
            {"label": "ARR", "data": [float(m.arr) for m in months], "borderColor": COLOURS["mrr"],
             "backgroundColor": COLOURS["mrr"], "pointRadius": 2, "fill": False},
        ],
    }  # fmt: skip
    if summary.arr_target is not None:
        arr["datasets"].append(
            {"label": "ARR target", "data": [float(summary.arr_target)] * len(months), "borderColor": COLOURS["target"],
             "backgroundColor": COLOURS["target"], "borderDash": [6, 4], "pointRadius": 0, "fill": False}
        )  # fmt: skip
    churn = {
        "labels": labels,
        "datasets": [
            {"label": "Logo churn %", "data": [float((m.logo_churn_rate or 0) * 100) for m in months],
             "backgroundColor": [COLOURS["churned"] if m.over_tolerance else COLOURS["contraction"] for m in months]},
        ],
    }  # fmt: skip
    if summary.tolerance is not None:
        churn["datasets"].append(
            {"type": "line", "label": "Tolerance %", "data": [float(summary.tolerance * 100)] * len(months),
             "borderColor": COLOURS["target"], "borderDash": [6, 4], "pointRadius": 0}
        )  # fmt: skip
    current = summary.current
    kpis = [
        {"title": "MRR", "value": money(summary.mrr, currency), "hint": f"as of {summary.as_of:%d %b %Y}"},
        {"title": "ARR", "value": money(summary.arr, currency), "hint": "MRR x 12"},
        {"title": "ARR target", "value": money(summary.arr_target, currency),
         "hint": f"{percent(summary.attainment)} reached" if summary.arr_target else "no target set"},
        {"title": "Net new MRR", "value": money(current.net_new if current else None, currency),
         "hint": "this month"},
    ]  # fmt: skip
    if logos:
        rate = current.logo_churn_rate if current else None
        kpis.append({"title": "Customers", "value": current.logos_end if current else 0,
                     "hint": f"logo churn {percent(rate)} this month"})  # fmt: skip
        kpis.append({"title": "Logo churn tolerance", "value": percent(summary.tolerance),
                     "hint": f"{sum(m.over_tolerance for m in months)} month(s) above it"})  # fmt: skip
    return {
        "kpis": kpis,
        "movements": json.dumps(movements),
        "arr": json.dumps(arr),
        "churn": json.dumps(churn),
        "stacked_options": STACKED,
        "line_options": LINES,
        "logos": logos,
        "table": _table(summary, currency),
    }


def _table(summary: FinancialSummary, currency: str) -> dict:
    headers = ["Month", "MRR", "ARR", "New", "Reactivation", "Expansion", "Contraction", "Churned", "Net new",
               "Customers", "Churned logos", "Logo churn"]  # fmt: skip
    rows = []
    for m in reversed(summary.months):
        churn = percent(m.logo_churn_rate)
        if m.over_tolerance:
            churn = format_html('<span class="text-red-600 font-semibold" data-over-tolerance>{} ▲</span>', churn)
        rows.append([m.month.strftime("%b %Y"), money(m.mrr), money(m.arr), money(m.new), money(m.reactivation),
                     money(m.expansion), money(m.contraction), money(m.churned), money(m.net_new), m.logos_end,
                     m.logos_churned, churn])  # fmt: skip
    return {"headers": headers, "rows": rows}


def _as_of_and_months(request) -> tuple[dt.date, int]:
    try:
        as_of = dt.date.fromisoformat(request.GET.get("as_of", ""))
    except ValueError:
        as_of = timezone.localdate()
    if not dt.date(1900, 1, 1) <= as_of <= dt.date(9998, 12, 31):  # room for the months before and after
        as_of = timezone.localdate()
    try:
        months = int(request.GET.get("months", 12))
    except ValueError:
        months = 12
    return as_of, months if months in MONTH_CHOICES else 12


# --- orders ------------------------------------------------------------------------------------------------------
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


def nav_orders(request) -> bool:
    return admin.site.get_model_admin(Order).has_view_permission(request)


# --- configuration -----------------------------------------------------------------------------------------------
@admin.register(AppFinancialConfig)
class AppFinancialConfigAdmin(LabelScopedAdmin):
    """Each app's logo churn tolerance; the financial dashboard lives under this admin's URLs."""

    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("app_id", "tolerance_display", "dashboard_link", "updated_at", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter),)
    search_fields = ("app_id",)
    fields = ("label", "app_id", "logo_churn_tolerance")

    @display(description="Logo churn tolerance", ordering="logo_churn_tolerance")
    def tolerance_display(self, obj) -> str:
        return percent(obj.logo_churn_tolerance)

    @display(description="Dashboard")
    def dashboard_link(self, obj) -> str:
        url = reverse("admin:crm_financial_dashboard") + "?" + urlencode({"label": obj.label_id, "app": obj.app_id})
        return format_html('<a class="text-primary-600" href="{}">Open</a>', url)

    def get_urls(self):
        view = self.admin_site.admin_view(lambda request: financial_dashboard_view(self, request))
        return [path("dashboard/", view, name="crm_financial_dashboard"), *super().get_urls()]


def financial_dashboard_view(model_admin: LabelScopedAdmin, request):
    """One app's figures (or every app's) in one of the actor's labels, as of a day, over 6 to 36 months."""
    actor = model_admin.actor(request)
    labels = list(Label.objects.filter(pk__in=actor.labels_with(Perm.VIEW)).order_by("name"))
    if not labels:
        raise PermissionDenied
    label = next((lb for lb in labels if str(lb.pk) == request.GET.get("label")), labels[0])
    apps = app_ids(label_id=label.pk)
    app = request.GET.get("app") or None
    app = app if app in apps else None
    as_of, months = _as_of_and_months(request)
    summary = app_financial_summary(label_id=label.pk, app_id=app, as_of=as_of, months=months)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Financial dashboard",
        "subtitle": None,
        "fin": dashboard_context(summary, currency=label.base_currency, logos=True),
        "labels": labels,
        "label": label,
        "apps": apps,
        "app": app,
        "as_of": as_of,
        "months": months,
        "month_choices": MONTH_CHOICES,
        "accounts_url": reverse("admin:crm_customerfinancials_changelist")
        + "?"
        + urlencode({"label__id__exact": label.pk, **({"app_id": app} if app else {})}),
    }
    return TemplateResponse(request, "admin/crm/financial/dashboard.html", context)


def nav_dashboard(request) -> bool:
    return admin.site.get_model_admin(AppFinancialConfig).has_view_permission(request)


def nav_app_config(request) -> bool:
    return admin.site.get_model_admin(AppFinancialConfig).has_view_permission(request)


def nav_app_config_active(request) -> bool:
    """Lit on the tolerance pages, not on the dashboard that lives under the same path."""
    pages, dashboard = reverse("admin:crm_appfinancialconfig_changelist"), reverse("admin:crm_financial_dashboard")
    return request.path.startswith(pages) and not request.path.startswith(dashboard)


@admin.register(AccountFinancialConfig)
class AccountFinancialConfigAdmin(LabelScopedAdmin):
    """Each customer account's start date and ARR target. The label is the account's."""

    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    scoped_foreign_keys = {"account": CustomerAccount}
    list_display = ("account", "app_id", "account_start_date", "target_display", "updated_at", "label")
    list_select_related = ("account", "label")
    list_filter = (("label", ScopedRelatedFilter),)
    search_fields = ("=account__account_id", "account__name", "=app_id")
    fields = ("account", "app_id", "account_start_date", "arr_target")
    autocomplete_fields = ()

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            obj = getattr(request, "_pitboss_admin_obj", None)
            kwargs["queryset"] = CustomerAccount.objects.for_actor(
                self.actor(request), self.write_perm(request, obj)
            ).filter(financial__isnull=True) | (
                CustomerAccount.objects.filter(pk=obj.account_id) if obj is not None else CustomerAccount.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        account = CustomerAccount.objects.for_actor(self.actor(request), Perm.CONFIG_CHANGE).filter(
            pk=request.GET.get("account") if str(request.GET.get("account", "")).isdigit() else None
        )
        first = account.first()
        if first is not None:
            initial.update(account=first.pk, app_id=first.app_id)
        return initial

    def save_model(self, request, obj, form, change):
        obj.label_id = obj.account.label_id  # the account's label; its choices are the actor's labels only
        if not self.actor(request).can(Perm.CONFIG_CHANGE, obj.label_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    @display(description="ARR target", ordering="arr_target")
    def target_display(self, obj) -> str:
        return money(obj.arr_target)


def nav_account_config(request) -> bool:
    return admin.site.get_model_admin(AccountFinancialConfig).has_view_permission(request)


# --- customer accounts' financial view ---------------------------------------------------------------------------
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
        extra_context = extra_context or {}
        if account is not None:
            extra_context |= self._panel(request, account)
        return super().change_view(request, object_id, form_url, extra_context)

    def _panel(self, request, account: CustomerAccount) -> dict:
        as_of, months = _as_of_and_months(request)
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


def nav_accounts(request) -> bool:
    return admin.site.get_model_admin(CustomerFinancials).has_view_permission(request)
