"""Bonuses in the admin: templates (configuration, with the catalogue sync), the bonuses given (read-only, with each
call's request and answer, and "Re-send" for a failed issue), and "Give bonus" on the player page.

Templates are configuration (Perm.CONFIG_CHANGE: admins and managers); giving and re-sending are player actions
(Perm.PLAYER_ACT: support included), like adjusting points.
"""

from __future__ import annotations

import json
import uuid

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter, TextFilter
from unfold.decorators import action, display
from unfold.paginator import InfinitePaginator
from unfold.widgets import UnfoldAdminDecimalFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin, may_act_on
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action
from backoffice.errors import DomainError
from backoffice.models import Label, Perm
from backoffice.scoping import actor_for_request
from crm.admin.player_pages import PlayerPage, PlayerPanel, player_page_register, player_panel_register
from crm.models import AccountStatus, Bonus, BonusStatus, BonusTemplate, Player
from crm.services.bonuses import bonus_give, bonus_resend, bonus_templates_sync
from integrations.http import HttpError

STATUS_VARIANTS = {
    "new": "info",
    "issued": "primary",
    "redeemed": "success",
    "redeem_failed": "warning",
    "issue_failed": "danger",
    "expired": "",
}
DELIVERY_VARIANTS = {
    "pending": "info",
    "in_flight": "primary",
    "done": "success",
    "unknown": "warning",
    "failed": "danger",
}
RESEND_TEXT = (
    "The bonus is sent again under the SAME idempotency key ({key}). Pitboss first asks the operator whether it "
    "applied the bonus after all (then it is simply marked issued); otherwise it issues it with that key. Because "
    "the operator applies a key only once, the player can never receive this bonus twice. The daily cap and the "
    "account status are checked again."
)
RECENT = 10


def status_badge(bonus: Bonus) -> str:
    return badge(bonus.get_status_display(), STATUS_VARIANTS.get(bonus.status, ""))


# --- templates -------------------------------------------------------------------------------------------------------
@admin.register(BonusTemplate)
class BonusTemplateAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    list_display = ("name", "operator_code", "type", "amount", "expiry_days", "source", "is_active", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), ("type", ChoicesDropdownFilter), "source", "is_active")
    search_fields = ("name", "operator_code")
    actions_list = ["sync_catalogue"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("label", "name", "public_name", "icon_url")}),
        ("At the operator", {"fields": ("operator_code", "type", "amount", "expiry_days")}),
        ("Status", {"fields": ("is_active", "source", "synced_at")}),
    )
    readonly_fields = ("source", "synced_at")

    def protected_summary(self, objs) -> list[str]:
        used = Bonus.objects.filter(template__in=objs).count()
        return [f"{used:,} bonus(es) were given from it: deactivate it instead."] if used else []

    def has_sync_catalogue_permission(self, request) -> bool:
        return self.actor(request).can_anywhere(Perm.CONFIG_CHANGE)

    @action(
        description="Sync from the operator", url_path="sync-catalogue", permissions=["sync_catalogue"], icon="sync"
    )
    def sync_catalogue(self, request):
        """Read the catalogue of each of the user's labels with a Bonus API connection, now."""
        labels = Label.objects.filter(pk__in=self.actor(request).labels_with(Perm.CONFIG_CHANGE))
        labels = labels.filter(pk__in=_connected_label_ids())
        if not labels:
            messages.warning(request, "No label of yours has a Bonus API connection (Data → Bonus API).")
        for label in labels:
            try:
                result = bonus_templates_sync(label=label)
            except (HttpError, DomainError) as exc:
                messages.error(request, f"{label}: the catalogue could not be read ({getattr(exc, 'message', exc)}).")
                continue
            messages.success(
                request,
                f"{label}: {result.created} new, {result.updated} updated, "
                f"{result.deactivated} no longer offered (deactivated).",
            )
        return HttpResponseRedirect(reverse("admin:crm_bonustemplate_changelist"))


def _connected_label_ids():
    from integrations.models import BonusApiConnection

    return BonusApiConnection.objects.values("label_id")


# --- bonuses ---------------------------------------------------------------------------------------------------------
class PlayerExtIdFilter(TextFilter):
    title = "player (user ext id)"
    parameter_name = "user_ext_id"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(player__user_ext_id=value) if value else queryset


class StatusFilter(ChoicesDropdownFilter):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = "status"


@admin.register(Bonus)
class BonusAdmin(LabelScopedAdmin):
    """Read-only for everyone (add, change and delete stay None); "Re-send" for a bonus whose issue failed."""

    list_display = (
        "id",
        "player_link",
        "template_name",
        "status_display",
        "delivery",
        "source",
        "created_at",
        "issued_at",
    )
    list_select_related = ("player__brand", "template", "label")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("status", StatusFilter),
        ("delivery_state", ChoicesDropdownFilter),
        ("template", ScopedRelatedFilter),
        ("source", ChoicesDropdownFilter),
        PlayerExtIdFilter,
    )
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("=key", "=idempotency_key", "=operator_bonus_id")
    search_help_text = "Exact key, idempotency key or operator bonus id"
    paginator = InfinitePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = None
    actions_detail = ["resend"]
    fieldsets = (
        (
            "Bonus",
            {
                "fields": (
                    ("player_link", "template_name"),
                    ("status_display", "source", "created_by"),
                    ("amount", "reason"),
                    "key",
                )
            },
        ),
        (
            "Delivery to the operator",
            {
                "fields": (
                    ("delivery", "attempts"),
                    "idempotency_key",
                    ("next_attempt_at", "deliver_until"),
                    ("claimed_at", "operator_bonus_id"),
                    "last_error",
                ),
                "description": "Every call carries the idempotency key, so the operator applies the bonus once "
                "however many times it is called. A call without an answer is 'unknown' and looked up by that key.",
            },
        ),
        ("Dates", {"fields": (("created_at", "issued_at"), ("redeemed_at", "expires_at"))}),
        ("Request and response", {"fields": ("request_pretty", "response_pretty")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [
            f for _, box in self.fieldsets for row in box["fields"] for f in (row if isinstance(row, tuple) else (row,))
        ]

    @display(description="Player")
    def player_link(self, obj) -> str:
        url = reverse("admin:crm_player_change", args=[obj.player_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.player)

    @display(description="Template")
    def template_name(self, obj) -> str:
        return str(obj.template)

    @display(description="Status")
    def status_display(self, obj) -> str:
        return status_badge(obj)

    @display(description="Delivery")
    def delivery(self, obj) -> str:
        return badge(obj.get_delivery_state_display(), DELIVERY_VARIANTS.get(obj.delivery_state, ""))

    @display(description="Request sent")
    def request_pretty(self, obj) -> str:
        return _json_block(obj.request_body, "bonus-request")

    @display(description="Last answer")
    def response_pretty(self, obj) -> str:
        return _json_block(obj.response_body, "bonus-response")

    def has_resend_permission(self, request, object_id=None) -> bool:
        return may_act_on(self, request, Perm.PLAYER_ACT, object_id)

    @action(description="Re-send", url_path="resend", permissions=["resend"], icon="send")
    def resend(self, request, object_id):
        bonus = self.get_object(request, object_id)
        if bonus.status != BonusStatus.ISSUE_FAILED:
            messages.error(request, "Only a bonus whose issue failed can be re-sent.")
            return HttpResponseRedirect(reverse("admin:crm_bonus_change", args=[bonus.pk]))

        def perform() -> None:
            try:
                bonus_resend(bonus=bonus, staff=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
                return
            self.log_change(request, bonus, "Re-sent under the same idempotency key.")
            messages.success(request, "Re-sent under the same key: refresh in a moment to see the outcome.")

        return confirmed_action(
            self,
            request,
            bonus,
            title=f"Re-send bonus {bonus.pk}",
            text=RESEND_TEXT.format(key=bonus.idempotency_key),
            button="Re-send",
            perform=perform,
        )


def _json_block(value, testid: str) -> str:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) if value else "-"
    return format_html('<pre class="text-xs whitespace-pre-wrap" data-testid="{}">{}</pre>', testid, text)


# --- the player page -------------------------------------------------------------------------------------------------
def _can_act(request, player: Player) -> bool:
    return actor_for_request(request).can(Perm.PLAYER_ACT, player.label_id)


def bonuses_panel(request, player: Player) -> dict:
    """The player's latest bonuses under the profile, with "Give bonus" for staff who may act on players."""
    bonuses = Bonus.objects.filter(player_id=player.pk).select_related("template").order_by("-id")[:RECENT]
    rows = [
        [
            format_html(
                '<a class="text-primary-600" href="{}">{}</a>',
                reverse("admin:crm_bonus_change", args=[b.pk]),
                b.template.name,
            ),
            status_badge(b),
            b.get_source_display(),
            b.created_at,
            b.expires_at,
        ]
        for b in bonuses
    ]
    return {
        "player": player,
        "can_act": _can_act(request, player),
        "table": {"headers": ["Bonus", "Status", "Given by", "When", "Expires"], "rows": rows},
        "list_url": f"{reverse('admin:crm_bonus_changelist')}?player__id__exact={player.pk}",
    }


class GiveBonusForm(forms.Form):
    template = forms.ModelChoiceField(queryset=BonusTemplate.objects.none(), widget=UnfoldAdminSelectWidget)
    amount = forms.DecimalField(
        max_digits=18,
        decimal_places=2,
        min_value=0.01,
        required=False,
        widget=UnfoldAdminDecimalFieldWidget,
        help_text="Only if this give differs from the template's amount; sent to the operator.",
    )
    reason = forms.CharField(max_length=500, widget=UnfoldAdminTextInputWidget, help_text="Kept with the bonus.")
    key = forms.UUIDField(widget=forms.HiddenInput)  # submitting the same form twice gives once

    def __init__(self, *args, player: Player, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = BonusTemplate.objects.for_label(player.label_id).filter(is_active=True)
        self.fields["template"].help_text = "The operator issues it; the bonus shows 'issued' once it confirms."


def give_bonus_view(model_admin, request, player: Player):
    """Give a bonus by hand, with a reason, once per submitted form (the form's key)."""
    form = GiveBonusForm(request.POST or None, initial={"key": uuid.uuid4()}, player=player)
    back = reverse("admin:crm_player_change", args=[player.pk])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            bonus = bonus_give(
                player=player,
                template=data["template"],
                source="staff",
                key=f"staff:{data['key']}",
                created_by=request.user,
                reason=data["reason"],
                amount=data["amount"],
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if bonus.created:
                model_admin.log_change(request, player, f"Gave bonus {data['template']}: {data['reason']}")
                messages.success(request, f"Bonus {data['template'].name} given: the operator is being called.")
            else:
                messages.info(request, "This bonus was already given.")
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Give a bonus to {player}",
        "form": form,
        "submit_label": "Give bonus",
        "cancel_url": back,
        "warning": _not_active_warning(player),
    }
    return TemplateResponse(request, "admin/gamification/player_form.html", context)


def _not_active_warning(player: Player) -> str:
    if player.core_account_status == AccountStatus.ACTIVE or not player.label.active_players_only:
        return ""
    return (
        f"The player's account is {player.core_account_status}, not ACTIVE: the label gives such players no "
        "bonuses, so this give will be refused."
    )


player_panel_register(PlayerPanel(template="admin/crm/player/bonuses_panel.html", context=bonuses_panel, order=20))
player_page_register(PlayerPage(name="give_bonus", path="give-bonus", view=give_bonus_view, permission=Perm.PLAYER_ACT))
