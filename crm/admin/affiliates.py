"""Admin of affiliate tracking: affiliates, campaigns, tracking links (with the URL to hand out), clicks and
conversions (read-only: they come from /track and /convert), and the report per affiliate or campaign with its chart
and CSV export.

Everyone in a label reads; admins and managers (Perm.CONFIG_CHANGE) create and change affiliates, campaigns and links.
A campaign takes its label from its affiliate, a link from its campaign: they can never straddle labels.
"""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.decorators import display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.errors import DomainValidationError
from backoffice.models import Perm
from crm.api.affiliates import report_period
from crm.exports import csv_line
from crm.models import Affiliate, Campaign, Click, Conversion, TrackingLink
from crm.selectors_affiliates import GROUPS, affiliate_report, affiliate_report_daily, report_totals

CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}, "x": {"grid": {"display": False}}},
    }
)
CHART_SERIES = (
    ("Clicks", "var(--color-base-400)"),
    ("Registrations", "var(--color-primary-600)"),
    ("Depositors", "var(--color-green-500)"),
)
REPORT_COLUMNS = [
    "name", "affiliate", "clicks", "installs", "registrations", "deposits", "depositors", "deposit_amounts",
    "registration_rate", "deposit_rate", "click_to_deposit_rate", "funnel_clicks", "funnel_installed",
    "funnel_registered", "funnel_deposited", "registered_without_install", "deposited_without_registration",
]  # fmt: skip


def nav_affiliates(request) -> bool:
    return _can_view(request, Affiliate)


nav_affiliates_list = nav_affiliates


def nav_affiliates_active(request) -> bool:
    """The list's item is lit on its pages, not on the report that lives under the same path."""
    report = reverse("admin:crm_affiliate_report")
    return request.path.startswith(reverse("admin:crm_affiliate_changelist")) and not request.path.startswith(report)


def nav_campaigns(request) -> bool:
    return _can_view(request, Campaign)


def nav_links(request) -> bool:
    return _can_view(request, TrackingLink)


def nav_conversions(request) -> bool:
    return _can_view(request, Conversion)


def _can_view(request, model) -> bool:
    model_admin = admin.site.get_model_admin(model)
    return model_admin.has_module_permission(request) and model_admin.has_view_permission(request)


class WriteAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE


@admin.register(Affiliate)
class AffiliateAdmin(WriteAdmin):
    list_display = ["name", "code", "active", "campaign_count", "created_at"]
    list_filter = ["is_active", ("label", ScopedRelatedFilter)]
    search_fields = ["name", "code"]
    fields = ["label", "name", "code", "contact_email", "is_active", "notes"]
    change_list_template = "admin/crm/affiliate/change_list.html"

    @display(description="Active")
    def active(self, obj: Affiliate) -> str:
        return badge("Active", "success") if obj.is_active else badge("Paused", "warning")

    @display(description="Campaigns")
    def campaign_count(self, obj: Affiliate) -> int:
        return obj.campaigns.count()

    def get_readonly_fields(self, request, obj=None):
        return ["label"] if obj is not None else []

    def protected_summary(self, objs) -> list[str]:
        used = Campaign.objects.filter(affiliate__in=objs).count()
        return [f"{used} campaign(s) belong to it: pause it instead."] if used else []

    def get_urls(self):
        urls = [path("report/", self.admin_site.admin_view(self.report_view), name="crm_affiliate_report")]
        return urls + super().get_urls()

    def report_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return affiliate_report_page(self, request)


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = ["affiliate", "brand", "name", "is_active"]

    def clean(self):
        data = super().clean()
        affiliate, brand = data.get("affiliate"), data.get("brand")
        if affiliate and brand and affiliate.label_id != brand.label_id:
            raise ValidationError({"brand": "Choose a brand of the affiliate's label."})
        return data


@admin.register(Campaign)
class CampaignAdmin(WriteAdmin):
    form = CampaignForm
    list_display = ["name", "affiliate", "brand", "active", "created_at"]
    list_filter = ["is_active", ("affiliate", ScopedRelatedFilter), ("brand", ScopedRelatedFilter)]
    search_fields = ["name", "affiliate__name", "affiliate__code"]
    scoped_foreign_keys = {**LabelScopedAdmin.scoped_foreign_keys, "affiliate": Affiliate}
    list_select_related = ["affiliate", "brand"]

    @display(description="Active")
    def active(self, obj: Campaign) -> str:
        return badge("Active", "success") if obj.is_active else badge("Paused", "warning")

    def save_model(self, request, obj, form, change):
        obj.label_id = obj.affiliate.label_id
        if not self.actor(request).can(Perm.CONFIG_CHANGE, obj.label_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)

    def protected_summary(self, objs) -> list[str]:
        used = TrackingLink.objects.filter(campaign__in=objs).count()
        return [f"{used} tracking link(s) belong to it: pause it instead."] if used else []


class TrackingLinkForm(forms.ModelForm):
    landing_url = forms.URLField(max_length=2000, assume_scheme="https", help_text="Where the visitor is sent.")

    class Meta:
        model = TrackingLink
        fields = ["campaign", "name", "landing_url", "click_param", "is_active"]

    def clean_landing_url(self):
        url = self.cleaned_data["landing_url"]
        if not url.lower().startswith(("https://", "http://")):
            raise ValidationError("An http(s) URL.")
        return url


@admin.register(TrackingLink)
class TrackingLinkAdmin(WriteAdmin):
    form = TrackingLinkForm
    list_display = ["name", "campaign", "tracking_url", "landing_url", "active"]
    list_filter = ["is_active", ("campaign", ScopedRelatedFilter)]
    search_fields = ["name", "campaign__name", "token"]
    scoped_foreign_keys = {**LabelScopedAdmin.scoped_foreign_keys, "campaign": Campaign}
    list_select_related = ["campaign"]
    readonly_fields = ["tracking_url"]

    def get_fields(self, request, obj=None):
        fields = ["campaign", "name", "landing_url", "click_param", "is_active"]
        return [*fields, "tracking_url"] if obj is not None else fields

    @display(description="Tracking URL")
    def tracking_url(self, obj: TrackingLink) -> str:
        url = self._request.build_absolute_uri(reverse("tracking-link", kwargs={"token": obj.token}))
        return format_html('<code data-testid="tracking-url">{}</code>', url)

    @display(description="Active")
    def active(self, obj: TrackingLink) -> str:
        return badge("Active", "success") if obj.is_active else badge("Paused", "warning")

    def get_queryset(self, request):
        self._request = request  # tracking_url builds absolute URLs with the request's host
        return super().get_queryset(request)

    def get_object(self, request, object_id, from_field=None):
        self._request = request
        return super().get_object(request, object_id, from_field)

    def save_model(self, request, obj, form, change):
        obj.label_id = obj.campaign.label_id
        if not self.actor(request).can(Perm.CONFIG_CHANGE, obj.label_id):
            raise PermissionDenied
        super().save_model(request, obj, form, change)


class ReadOnlyAdmin(LabelScopedAdmin):
    def get_queryset(self, request):
        return self.model.objects.filter(label_id__in=self.actor(request).label_ids)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Click)
class ClickAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "affiliate", "campaign", "link", "ip", "referrer"]
    list_filter = [("affiliate", ScopedRelatedFilter), ("campaign", ScopedRelatedFilter)]
    list_select_related = ["affiliate", "campaign", "link"]
    search_fields = ["=id", "ip"]
    fields = ["id", "created_at", "affiliate", "campaign", "link", "landing_url", "referrer", "ip", "user_agent",
              "params", "funnel"]  # fmt: skip
    readonly_fields = fields
    date_hierarchy = "created_at"

    @display(description="Funnel")
    def funnel(self, obj: Click) -> str:
        """Each step with its conversions, a skipped step marked as such."""
        seen = {c.type: c for c in obj.conversions.order_by("occurred_at", "id")}
        rows = []
        reached_later = False
        for step in ("deposit", "registration", "install"):
            if step in seen:
                reached_later = True
                rows.append((step.capitalize(), badge("Converted", "success"), seen[step].occurred_at.isoformat()))
            else:
                rows.append((step.capitalize(), badge("Skipped", "warning") if reached_later else badge("—"), ""))
        return format_html(
            '<table data-testid="click-funnel">{}</table>',
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", reversed(rows)),
        )


@admin.register(Conversion)
class ConversionAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "type_badge", "affiliate", "campaign", "player_ext_id", "player", "amount_shown",
                    "transaction_id", "click"]  # fmt: skip
    list_filter = ["type", "currency", ("affiliate", ScopedRelatedFilter), ("campaign", ScopedRelatedFilter)]
    list_select_related = ["affiliate", "campaign", "player__brand"]
    search_fields = ["player_ext_id", "transaction_id", "=click__id"]
    fields = ["click", "type", "occurred_at", "received_at", "affiliate", "campaign", "player_ext_id", "player",
              "currency", "amount", "transaction_id", "ip", "user_agent", "referrer", "logged_at"]  # fmt: skip
    readonly_fields = fields
    date_hierarchy = "occurred_at"

    @display(description="Type")
    def type_badge(self, obj: Conversion) -> str:
        variant = {"install": "info", "registration": "primary", "deposit": "success"}[obj.type]
        return badge(obj.get_type_display(), variant)

    @display(description="Amount")
    def amount_shown(self, obj: Conversion) -> str:
        return f"{obj.amount} {obj.currency}" if obj.amount is not None else ""


# --- the report ----------------------------------------------------------------------------------------------------
def _report_params(request, actor) -> tuple[dt.datetime, dt.datetime, str, int | None, dict]:
    errors: dict[str, str] = {}
    try:
        start = dt.date.fromisoformat(request.GET["start"]) if request.GET.get("start") else None
        end = dt.date.fromisoformat(request.GET["end"]) if request.GET.get("end") else None
    except ValueError:
        start = end = None
        errors["start"] = "Dates as YYYY-MM-DD."
    group = request.GET.get("group") if request.GET.get("group") in GROUPS else "affiliate"
    affiliate_id = request.GET.get("affiliate")
    affiliate = None
    if affiliate_id and affiliate_id.isdigit():
        affiliate = Affiliate.objects.for_actor(actor).filter(pk=int(affiliate_id)).values_list("pk", flat=True).first()
    try:
        begin, finish = report_period(start, end)
    except DomainValidationError as exc:  # a day out of range, a reversed or too long period
        messages = [message for found in exc.errors.values() for message in found]
        errors["start"] = " ".join(messages or ["Invalid period."])
        begin, finish = report_period(None, None)
    return begin, finish, group, affiliate, errors


def affiliate_report_page(model_admin, request):
    actor = model_admin.actor(request)
    start, end, group, affiliate_id, errors = _report_params(request, actor)
    rows = affiliate_report(actor=actor, start=start, end=end, group=group, affiliate_id=affiliate_id)
    if request.GET.get("format") == "csv":
        return _report_csv(rows, start, end, group)
    daily = affiliate_report_daily(actor=actor, start=start, end=end, affiliate_id=affiliate_id)
    chart = {
        "labels": [day.isoformat()[5:] for day, *_ in daily],
        "datasets": [
            {"label": name, "data": [d[i + 1] for d in daily], "borderColor": colour, "backgroundColor": colour,
             "pointRadius": 0, "fill": False}
            for i, (name, colour) in enumerate(CHART_SERIES)
        ],
    }  # fmt: skip
    query = request.GET.copy()
    query["format"] = "csv"
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Affiliate report",
        "opts": model_admin.opts,
        "rows": rows,
        "total": report_totals(rows),
        "group": group,
        "groups": GROUPS,
        "start": start.date(),
        "end": (end - dt.timedelta(days=1)).date(),
        "affiliate_id": affiliate_id,
        "affiliates": Affiliate.objects.for_actor(actor).order_by("name"),
        "errors": errors,
        "chart": json.dumps(chart),
        "chart_options": CHART_OPTIONS,
        "csv_url": f"?{query.urlencode()}",
        "today": timezone.now().date(),
    }
    return TemplateResponse(request, "admin/crm/affiliate/report.html", context)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _report_csv(rows, start: dt.datetime, end: dt.datetime, group: str) -> StreamingHttpResponse:
    def lines():
        yield csv_line(REPORT_COLUMNS)
        for r in [*rows, report_totals(rows)]:
            amounts = " ".join(f"{currency} {amount}" for currency, amount in r.amounts.items())
            yield csv_line([
                r.name, r.affiliate, r.clicks, r.installs, r.registrations, r.deposits, r.depositors, amounts,
                _rate(r.registration_rate), _rate(r.deposit_rate), _rate(r.click_to_deposit_rate), r.cohort_clicks,
                r.cohort_installed, r.cohort_registered, r.cohort_deposited, r.registered_without_install,
                r.deposited_without_registration,
            ])  # fmt: skip

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    last = (end - dt.timedelta(days=1)).date()
    response["Content-Disposition"] = f'attachment; filename="affiliates-{group}-{start.date()}-{last}.csv"'
    return response
