"""Players in the admin: a fast list over millions of rows and the whole profile, read-only.

The operator's systems own profile data (it arrives through the API and data sync), so nobody edits, adds or deletes
players here. The list never counts rows: counting a million players on every page view is what makes admins slow.
"""

from __future__ import annotations

import json
import re
from functools import cache, partial

import pycountry
from django import forms
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter, DropdownFilter, TextFilter
from unfold.decorators import action, display
from unfold.paginator import InfinitePaginator

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge
from backoffice.crypto import lookup_digest, normalize_email, normalize_phone
from backoffice.models import Brand
from crm.admin.builder.catalogue import player_field_labels
from crm.admin.events.formatting import event_summary, explorer_url, format_amount, moment, status_badge, type_badge
from crm.admin.player_pages import player_pages, player_panels, player_tabs
from crm.exports import players_csv
from crm.models import AccountStatus, Event, Player, PlayerAggregate
from crm.selectors import event_group_status

_PHONE_RE = re.compile(r"^\+?[0-9]{6,15}$")
TIMELINE_EVENTS = 50

STATUS_VARIANTS = {
    AccountStatus.ACTIVE: "success",
    AccountStatus.APPROVED: "success",
    AccountStatus.PENDING: "info",
    AccountStatus.SELF_EXCLUDED: "warning",
    AccountStatus.SUSPENDED: "warning",
    AccountStatus.LOCKED: "warning",
    AccountStatus.BLOCKED: "danger",
    AccountStatus.BANNED: "danger",
    AccountStatus.DEACTIVATED: "",
}


@cache
def _countries() -> list[tuple[str, str]]:
    return sorted(((c.alpha_2, f"{c.name} ({c.alpha_2})") for c in pycountry.countries), key=lambda c: c[1])


@cache
def _languages() -> list[tuple[str, str]]:
    coded = (lang for lang in pycountry.languages if hasattr(lang, "alpha_2"))
    return sorted(
        ((lang.alpha_2.upper(), f"{lang.name} ({lang.alpha_2.upper()})") for lang in coded), key=lambda x: x[1]
    )


@cache
def _currencies() -> list[tuple[str, str]]:
    return sorted(((c.alpha_3, f"{c.alpha_3} — {c.name}") for c in pycountry.currencies), key=lambda c: c[0])


class AccountStatusFilter(ChoicesDropdownFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "account status"


class GenderFilter(ChoicesDropdownFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "gender"


class _CodeFilter(DropdownFilter):
    """An exact match on an ISO code column; the choices come from the standard, not from a scan of the table."""

    field_name = ""
    choices_source = staticmethod(list)

    def lookups(self, request, model_admin):
        return self.choices_source()

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field_name: value}) if value else queryset


class CountryFilter(_CodeFilter):
    title = "country"
    parameter_name = "country"
    field_name = "user_country"
    choices_source = staticmethod(_countries)


class LanguageFilter(_CodeFilter):
    title = "language"
    parameter_name = "language"
    field_name = "core_user_language"
    choices_source = staticmethod(_languages)


class CurrencyFilter(_CodeFilter):
    title = "currency"
    parameter_name = "currency"
    field_name = "core_wallet_currency"
    choices_source = staticmethod(_currencies)


class MarkerFilter(TextFilter):
    title = "marker"
    parameter_name = "marker"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(markers__contains=[value]) if value else queryset  # GIN index on markers


class PlayerForm(forms.ModelForm):
    """Only its labels matter (every field is read-only): the admin reads `Meta.labels` for read-only fields too."""

    class Meta:
        model = Player
        fields = ()
        labels = player_field_labels()


@admin.register(Player)
class PlayerAdmin(LabelScopedAdmin):
    # Read-only for everyone: add, change and delete permissions stay None.
    form = PlayerForm
    list_display = ("ext_id", "username", "brand_name", "status", "country", "currency", "registered")
    list_select_related = ("brand", "label")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("brand", ScopedRelatedFilter),
        ("core_account_status", AccountStatusFilter),
        CountryFilter,
        LanguageFilter,
        CurrencyFilter,
        ("core_user_gender", GenderFilter),
        MarkerFilter,
    )
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("user_ext_id",)  # shows the search box; get_search_results does the searching
    search_help_text = "Exact user_ext_id, email or phone; else the start of a username"
    paginator = InfinitePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    sortable_by = ("registered",)  # the one column besides id with an index per label
    actions = None
    actions_list = ["export_csv"]
    change_form_before_template = "admin/crm/player/tabs.html"
    change_form_after_template = "admin/crm/player/timeline.html"
    fieldsets = (
        (
            "Identity",
            {
                "fields": (
                    ("user_ext_id", "brand", "label"),
                    ("core_username", "user_first_name", "user_last_name"),
                    ("user_birthdate", "core_user_gender"),
                    ("core_user_language", "user_country"),
                )
            },
        ),
        (
            "Account",
            {
                "fields": (
                    ("status_badge", "core_kyc_status"),
                    ("core_wallet_currency", "core_registration_date"),
                    "ach_gamification_in_control_group",
                )
            },
        ),
        (
            "Activity",
            {
                "fields": (
                    ("activity_deposits", "activity_first_deposit", "activity_last_deposit"),
                    ("activity_withdrawals", "activity_bets", "activity_wins"),
                    ("activity_logins", "activity_last_login", "activity_entry_point"),
                ),
                "description": "Totals of the player's processed events, in the wallet currency.",
            },
        ),
        ("Contact", {"fields": (("email", "phone"),)}),
        ("Marketing", {"fields": (("email_marketing", "sms_marketing"),)}),
        ("Affiliate", {"fields": (("core_affiliate_id", "core_affiliate_str"),)}),
        ("Custom properties", {"fields": ("custom_properties",)}),
        ("Markers", {"fields": ("marker_badges",)}),
        ("Timestamps", {"fields": (("dt_update", "created_at", "updated_at"),)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("brand", "label")

    # --- export --------------------------------------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        query = request.GET.urlencode()
        context = getattr(response, "context_data", None) or {}
        for item in context.get("actions_list", []):
            if query and isinstance(item, dict) and item.get("path", "").endswith("/export-csv/"):
                item["path"] = f"{item['path']}?{query}"  # export what the list shows: its filters and search
        return response

    def has_export_csv_permission(self, request) -> bool:
        return self.has_view_permission(request)

    @action(description="Export CSV", url_path="export-csv", icon="download", permissions=["export_csv"])
    def export_csv(self, request):
        """The players of the list as it is filtered and searched, streamed as CSV (no email or phone)."""
        changelist = self.get_changelist_instance(request)
        players = changelist.get_queryset(request)
        response = StreamingHttpResponse(players_csv(self.actor(request), within=players), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="players-{stamp}.csv"'
        return response

    # --- pages other apps add to the player (crm.admin.player_pages) ---------------------------------------------
    def get_urls(self):
        pages = [
            path(
                f"<path:object_id>/{page.path}/",
                self.admin_site.admin_view(partial(self._page_view, page)),
                name=f"crm_player_{page.name}",
            )
            for page in player_pages()
        ]
        return pages + super().get_urls()

    def _page_view(self, page, request, object_id):
        if not self.has_view_permission(request):
            raise PermissionDenied
        player = self.get_object(request, object_id)
        if player is None:
            raise Http404("No such player.")  # another label's player, as on the player page
        if page.permission and not self.actor(request).can(page.permission, player.label_id):
            raise PermissionDenied
        return page.view(self, request, player)

    def player_tabs_context(self, request, player, active: str = "") -> dict:
        """The tab strip of the player: the profile, then every registered page with a tab."""
        actor = self.actor(request)
        tabs = [{"title": "Profile", "url": reverse("admin:crm_player_change", args=[player.pk]), "active": not active}]
        tabs += [
            {
                "title": page.tab,
                "url": reverse(f"admin:crm_player_{page.name}", args=[player.pk]),
                "active": page.name == active,
            }
            for page in player_tabs()
            if not page.permission or actor.can(page.permission, player.label_id)
        ]
        return {"player_tabs": tabs}

    def get_readonly_fields(self, request, obj=None):
        return flatten_fieldsets(self.fieldsets)

    # --- activity: aggregates and the latest events --------------------------------------------------------------
    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["timeline"] = self._timeline(obj)
            context.update(self.player_tabs_context(request, obj))
            panels = ((panel.template, panel.context(request, obj)) for panel in player_panels())
            context["player_panels"] = [{"template": t, "panel": c} for t, c in panels if c is not None]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _timeline(self, player) -> dict:
        """The player's latest events, newest first, through the (player, occurred_at) index."""
        events = list(
            Event.objects.filter(label_id=player.label_id, player_id=player.pk).order_by("-occurred_at", "-id")[
                :TIMELINE_EVENTS
            ]
        )
        statuses = event_group_status(event_ids=[event.pk for event in events])
        currency = player.core_wallet_currency
        rows = [
            [
                moment(event.occurred_at),
                type_badge(event.type),
                event_summary(event, currency) or "-",
                event.get_source_display(),
                status_badge(statuses.get(event.pk, [])),
                format_html(
                    '<a class="text-primary-600 dark:text-primary-500" href="{}">{}</a>',
                    reverse("admin:crm_event_change", args=[event.pk]),
                    event.event_id,
                ),
            ]
            for event in events
        ]
        return {
            "table": {"headers": ["Occurred", "Type", "Details", "Source", "Status", "Event id"], "rows": rows},
            "explorer_url": explorer_url(player_id=player.pk),
            "limit": TIMELINE_EVENTS,
        }

    @staticmethod
    def _aggregate(obj) -> PlayerAggregate:
        if not hasattr(obj, "_pitboss_aggregate"):
            found = PlayerAggregate.objects.filter(player_id=obj.pk).first()
            obj._pitboss_aggregate = found or PlayerAggregate(player_id=obj.pk, label_id=obj.label_id)
        return obj._pitboss_aggregate

    def _count_and_sum(self, obj, count: int, total) -> str:
        return f"{count:,} · {format_amount(total, obj.core_wallet_currency)}"

    @display(description="Deposits")
    def activity_deposits(self, obj) -> str:
        aggregate = self._aggregate(obj)
        return self._count_and_sum(obj, aggregate.deposit_count, aggregate.deposit_sum)

    @display(description="First deposit")
    def activity_first_deposit(self, obj) -> str:
        return moment(self._aggregate(obj).first_deposit_at)

    @display(description="Last deposit")
    def activity_last_deposit(self, obj) -> str:
        return moment(self._aggregate(obj).last_deposit_at)

    @display(description="Withdrawals")
    def activity_withdrawals(self, obj) -> str:
        aggregate = self._aggregate(obj)
        return self._count_and_sum(obj, aggregate.withdrawal_count, aggregate.withdrawal_sum)

    @display(description="Bets")
    def activity_bets(self, obj) -> str:
        aggregate = self._aggregate(obj)
        return self._count_and_sum(obj, aggregate.bet_count, aggregate.bet_sum)

    @display(description="Wins")
    def activity_wins(self, obj) -> str:
        return format_amount(self._aggregate(obj).win_sum, obj.core_wallet_currency)

    @display(description="Logins")
    def activity_logins(self, obj) -> str:
        return f"{self._aggregate(obj).login_count:,}"

    @display(description="Last login")
    def activity_last_login(self, obj) -> str:
        return moment(self._aggregate(obj).last_login_at)

    @display(description="Last entry point")
    def activity_entry_point(self, obj) -> str:
        return self._aggregate(obj).last_entry_point or "-"

    def get_list_display(self, request):
        if len(self.actor(request).label_ids) > 1:
            return (*self.list_display[:3], "label_name", *self.list_display[3:])
        return self.list_display

    def get_search_results(self, request, queryset, search_term):
        """Exact matches first, found through indexes; otherwise usernames that start with the text.

        Email and phone are encrypted, so they are matched through their keyed digests. Splitting the search keeps
        the frequent lookups (a player id, an email from a support ticket) off a scan of a million rows.
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        exact = queryset.filter(self._exact_match(request, term))
        if exact.exists():
            return exact, False
        return queryset.filter(core_username__istartswith=term), False

    def _exact_match(self, request, term: str) -> Q:
        # Literal brand ids, not a subquery: with them PostgreSQL ORs index scans (the (brand, user_ext_id) unique
        # index, the digest indexes) instead of scanning the table.
        brand_ids = list(Brand.objects.for_actor(self.actor(request)).values_list("pk", flat=True))
        match = Q(brand_id__in=brand_ids, user_ext_id=term)
        if "@" in term:
            match |= Q(user_email_digest=lookup_digest(normalize_email(term)))
        phone = normalize_phone(term)
        if _PHONE_RE.match(phone):
            match |= Q(user_phone_digest=lookup_digest(phone))
        return match

    # --- columns and read-only fields ---------------------------------------------------------------------------
    @display(description="Player id (operator)")
    def ext_id(self, obj) -> str:
        return obj.user_ext_id

    @display(description="Username")
    def username(self, obj) -> str:
        return obj.core_username or "-"

    @display(description="Brand")
    def brand_name(self, obj) -> str:
        return obj.brand.name

    @display(description="Label")
    def label_name(self, obj) -> str:
        return obj.label.name

    @display(description="Country")
    def country(self, obj) -> str:
        return obj.user_country or "-"

    @display(description="Currency")
    def currency(self, obj) -> str:
        return obj.core_wallet_currency or "-"

    @display(description="Registered", ordering="core_registration_date")
    def registered(self, obj):
        return obj.core_registration_date

    @display(description="Status", label={k.value: v for k, v in STATUS_VARIANTS.items()})
    def status(self, obj) -> str:
        return obj.core_account_status

    @display(description="Account status")
    def status_badge(self, obj) -> str:
        return badge(obj.core_account_status, STATUS_VARIANTS.get(obj.core_account_status, ""))

    @display(description="Email")
    def email(self, obj) -> str:
        return obj.user_email or "-"

    @display(description="Phone")
    def phone(self, obj) -> str:
        return obj.user_phone or "-"

    @display(description="Email marketing")
    def email_marketing(self, obj) -> str:
        return _consent(obj.core_is_email_disabled_by_platform)

    @display(description="SMS marketing")
    def sms_marketing(self, obj) -> str:
        return _consent(obj.core_is_sms_disabled_by_platform)

    @display(description="Custom properties")
    def custom_properties(self, obj) -> str:
        if not obj.custom:
            return "No custom properties."
        rows = format_html_join(
            "",
            '<tr><th scope="row">{}</th><td>{}</td></tr>',
            ((name, _scalar(obj.custom[name])) for name in sorted(obj.custom)),
        )
        return format_html(
            '<table class="pitboss-kv"><thead><tr><th>Property</th><th>Value</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            rows,
        )

    @display(description="Markers")
    def marker_badges(self, obj) -> str:
        if not obj.markers:
            return "No markers."
        # Markers are case-sensitive tags: shown as written, not in the theme's upper-case badges.
        return format_html(
            '<span class="pitboss-badges">{}</span>',
            format_html_join("", '<span class="pitboss-marker">{}</span>', ((marker,) for marker in obj.markers)),
        )


def _consent(disabled_by_platform: bool) -> str:
    if disabled_by_platform:
        return badge("Opted out on the platform", "warning")
    return badge("Allowed", "success")


def _scalar(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)
