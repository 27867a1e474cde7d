"""Usage analytics in the admin: customer accounts with their users and usage, apps mapped to brands, and usage users
with their attributes, devices (push tokens masked) and sessions.

Accounts and users are the partner's data (written through /v4/usageanalytics/…): read-only here. Apps are the one
thing staff configure: which brand an app's users play on (integration engineers and admins, Perm.DATA_SOURCES).
"""

from __future__ import annotations

import base64

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.models import Perm
from crm.admin.events.formatting import event_summary, moment, type_badge
from crm.models import CustomerAccount, CustomerAccountStatus, UsageApp, UsageUser, UsageUserKind
from crm.selectors_usage import ACCOUNT_USERS, account_recent_events, account_usage, user_recent_events

STATUS_VARIANTS = {CustomerAccountStatus.ACTIVE: "success", CustomerAccountStatus.INACTIVE: ""}
_LINK = '<a class="text-primary-600 dark:text-primary-500 font-medium" href="{}">{}</a>'


def _link(name: str, pk: int, text: str) -> str:
    return format_html(_LINK, reverse(f"admin:crm_{name}_change", args=[pk]), text)


def _events_table(events) -> dict:
    rows = [
        [moment(e.occurred_at), type_badge(e.type), event_summary(e) or "-",
         _link("player", e.player_id, e.player.user_ext_id), _link("event", e.pk, e.event_id)]
        for e in events
    ]  # fmt: skip
    return {"headers": ["Occurred", "Type", "Details", "Player", "Event id"], "rows": rows}


# --- customer accounts -------------------------------------------------------------------------------------------
@admin.register(CustomerAccount)
class CustomerAccountAdmin(LabelScopedAdmin):
    """Read-only: the partner writes accounts (POST /v4/usageanalytics/customer, orders, tickets)."""

    list_display = ("display_name", "account_id", "status_badge", "app_id", "users", "last_seen")
    list_filter = (("label", ScopedRelatedFilter), ("status", ChoicesDropdownFilter))
    list_filter_submit = True
    search_fields = ("account_id", "name")
    search_help_text = "Account id or name"
    list_per_page = 50
    actions = None
    change_form_after_template = "admin/crm/customeraccount/usage.html"
    fields = (("name", "account_id"), ("status_badge", "app_id"), ("product_list", "logo_image"), "label")
    readonly_fields = ("name", "account_id", "status_badge", "app_id", "product_list", "logo_image", "label")

    def get_queryset(self, request):
        from crm.selectors_usage import customer_accounts_for_actor

        return customer_accounts_for_actor(actor=self.actor(request)).select_related("label")

    @admin.display(description="Name", ordering="name")
    def display_name(self, obj: CustomerAccount) -> str:
        return obj.name or "(not named yet)"

    @admin.display(description="Status", ordering="status")
    def status_badge(self, obj: CustomerAccount) -> str:
        return badge(obj.get_status_display(), STATUS_VARIANTS.get(obj.status, ""))

    @admin.display(description="Usage users", ordering="users_count")
    def users(self, obj) -> int:
        return obj.users_count

    @admin.display(description="Last seen", ordering="last_seen_at")
    def last_seen(self, obj) -> str:
        return moment(obj.last_seen_at) if obj.last_seen_at else "-"

    @admin.display(description="Products")
    def product_list(self, obj: CustomerAccount) -> str:
        return ", ".join(obj.product_ids) or "-"

    @admin.display(description="Logo")
    def logo_image(self, obj: CustomerAccount) -> str:
        if not obj.logo or not obj.logo_content_type.startswith("image/"):
            return "-"
        data = base64.b64encode(bytes(obj.logo)).decode()
        return format_html('<img src="data:{};base64,{}" alt="logo" style="max-height:48px">', obj.logo_content_type,
                           data)  # fmt: skip

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            users = list(
                obj.usage_users.select_related("app", "player").order_by("-last_seen_at", "-id")[:ACCOUNT_USERS]
            )
            context["usage"] = account_usage(account=obj)
            context["usage_title"] = f"Usage, last {context['usage'].days} days"
            context["users_table"] = {
                "headers": ["User", "Kind", "App", "Player", "Platform", "Last seen"],
                "rows": [
                    [_link("usageuser", u.pk, u.user_id), u.get_kind_display(), str(u.app),
                     _link("player", u.player_id, u.player.user_ext_id) if u.player_id else "-",
                     u.platform or "-", moment(u.last_seen_at) if u.last_seen_at else "-"]
                    for u in users
                ],
            }  # fmt: skip
            context["events_table"] = _events_table(account_recent_events(account=obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


# --- apps --------------------------------------------------------------------------------------------------------
class UsageAppForm(forms.ModelForm):
    class Meta:
        model = UsageApp
        fields = ["label", "app_id", "name", "brand"]

    def clean(self):
        cleaned = super().clean()
        label, brand = cleaned.get("label"), cleaned.get("brand")
        if label is not None and brand is not None and brand.label_id != label.pk:
            self.add_error("brand", "Choose a brand of the app's label.")
        return cleaned


@admin.register(UsageApp)
class UsageAppAdmin(LabelScopedAdmin):
    """Which brand each SmartKarrot app's users play on (an app seen first in a one-brand label is mapped to it)."""

    add_perm = change_perm = Perm.DATA_SOURCES
    form = UsageAppForm
    list_display = ("app_id", "name", "brand", "label", "users")
    list_filter = (("label", ScopedRelatedFilter), ("brand", ScopedRelatedFilter))
    search_fields = ("app_id", "name")
    list_select_related = ("brand", "label")
    actions = None

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(users_count=Count("users"))

    def get_readonly_fields(self, request, obj=None):
        return ("label", "app_id") if obj is not None else ()  # events name the app by its id

    @admin.display(description="Usage users", ordering="users_count")
    def users(self, obj) -> int:
        return obj.users_count


# --- usage users -------------------------------------------------------------------------------------------------
@admin.register(UsageUser)
class UsageUserAdmin(LabelScopedAdmin):
    """Read-only: the app reports its users. Push tokens are shown masked."""

    list_display = ("user_id", "kind_badge", "app", "player_link", "account_link", "platform", "last_seen")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("kind", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("platform", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    list_select_related = ("app", "player", "customer_account", "label")
    search_fields = ("user_id",)
    search_help_text = "Exact user id"
    list_per_page = 50
    actions = None
    change_form_after_template = "admin/crm/usageuser/details.html"
    readonly_fields = ("user_id", "kind_badge", "status", "app", "player_link", "account_link", "merged_link",
                       "platform", "bundle_id", "last_session_id", "last_device_id", "last_seen", "label")  # fmt: skip
    fields = (("user_id", "kind_badge", "status"), ("app", "player_link", "account_link"), "merged_link",
              ("platform", "bundle_id"), ("last_session_id", "last_device_id"), ("last_seen", "label"))  # fmt: skip

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(user_id=term) if term else queryset), False

    @admin.display(description="Kind", ordering="kind")
    def kind_badge(self, obj: UsageUser) -> str:
        return badge(obj.get_kind_display(), "info" if obj.kind == UsageUserKind.AUTHENTICATED else "")

    @admin.display(description="Player")
    def player_link(self, obj: UsageUser) -> str:
        return _link("player", obj.player_id, obj.player.user_ext_id) if obj.player_id else "-"

    @admin.display(description="Customer account")
    def account_link(self, obj: UsageUser) -> str:
        account = obj.customer_account
        return _link("customeraccount", account.pk, str(account)) if account else "-"

    @admin.display(description="Logged in as")
    def merged_link(self, obj: UsageUser) -> str:
        return _link("usageuser", obj.merged_into_id, obj.merged_into.user_id) if obj.merged_into_id else "-"

    @admin.display(description="Last seen", ordering="last_seen_at")
    def last_seen(self, obj: UsageUser) -> str:
        return moment(obj.last_seen_at) if obj.last_seen_at else "-"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["attributes_table"] = {
                "headers": ["Attribute", "Type", "Value", "Logged at"],
                "rows": [[name, a.get("dataType", ""), str(a.get("value", "")), a.get("loggedAtTime", "")]
                         for name, a in sorted(obj.attributes.items())],
            }  # fmt: skip
            context["devices_table"] = {
                "headers": ["Device", "Platform", "Attributes", "Push token", "Token updated"],
                "rows": [[str(d), d.platform or "-", ", ".join(f"{k}: {v}" for k, v in sorted(d.attributes.items()))
                          or "-", d.token_masked or "-", moment(d.token_updated_at) if d.token_updated_at else "-"]
                         for d in obj.devices.order_by("-updated_at")],
            }  # fmt: skip
            context["sessions_table"] = {
                "headers": ["Session", "Device", "Started", "Ended", "Length (s)"],
                "rows": [[s.session_id, s.device_id or "-", moment(s.started_at) if s.started_at else "-",
                          moment(s.ended_at) if s.ended_at else "-",
                          f"{s.duration_seconds:.0f}" if s.duration_seconds is not None else "-"]
                         for s in obj.sessions.order_by("-started_at", "-id")[:20]],
            }  # fmt: skip
            context["held_count"] = obj.held_events.count()
            context["events_table"] = _events_table(user_recent_events(user=obj))
        return super().render_change_form(request, context, add, change, form_url, obj)


# --- sidebar (backoffice/settings/unfold.py) ----------------------------------------------------------------------
def nav_accounts(request) -> bool:
    return LabelScopedAdmin.actor(request).can_anywhere(Perm.VIEW)


nav_users = nav_apps = nav_accounts
