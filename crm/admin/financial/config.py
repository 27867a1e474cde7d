"""Financial configuration in the admin: each app's logo churn tolerance (and the financial dashboard, under its
URLs), each account's start date and ARR target. Edited with Perm.CONFIG_CHANGE (admins and managers)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.models import Label, Perm
from crm.admin.financial.panel import (
    MONTH_CHOICES,
    as_of_and_months,
    csv_filename,
    dashboard_context,
    money,
    months_csv,
    percent,
)
from crm.models import AccountFinancialConfig, AppFinancialConfig, CustomerAccount
from crm.selectors_financial import app_financial_summary, app_ids


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
    as_of, months = as_of_and_months(request)
    summary = app_financial_summary(label_id=label.pk, app_id=app, as_of=as_of, months=months)
    query = {"label": label.pk, "app": app or "", "as_of": as_of, "months": months}
    if request.GET.get("format") == "csv":
        return months_csv(summary, filename=csv_filename("financial", label.label_key, app or "all-apps", str(as_of)))
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
        "csv_url": "?" + urlencode(query | {"format": "csv"}),
        "accounts_url": reverse("admin:crm_customerfinancials_changelist")
        + "?"
        + urlencode({"label__id__exact": label.pk, **({"app_id": app} if app else {})}),
    }
    return TemplateResponse(request, "admin/crm/financial/dashboard.html", context)


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
