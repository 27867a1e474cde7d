"""The wallet in the admin: a read-only ledger explorer, the balances on the player page, manual adjustments and
reversals of credits.

Nobody adds, edits or deletes ledger entries here: staff change a balance only through the "Adjust balance" form
(a credit above the staff member's cap waits for a second staff member's approval, see `gamification.admin.credits`)
and the "Reverse" action of a credit, each writing entries through the wallet services like every other source.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.paginator import InfinitePaginator
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from crm.models import Player
from crm.models.players import AccountStatus
from gamification.models import Currency, WalletEntry, WithheldCredit
from gamification.selectors import wallet_entries, wallet_get
from gamification.services.credits import credit_caps, manual_adjust, staff_role
from gamification.services.wallet import MAX_REASON_LENGTH, wallet_entry_reverse

PANEL_ENTRIES = 10


@admin.register(WalletEntry)
class WalletEntryAdmin(LabelScopedAdmin):
    """The ledger explorer. Read-only for everyone: add, change and delete permissions stay None."""

    list_display = ("created_at", "player_link", "currency", "signed_amount", "source", "key", "reason", "staff")
    list_select_related = ("player__brand", "created_by")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("currency", ChoicesDropdownFilter),
        ("source", ChoicesDropdownFilter),
    )
    list_filter_submit = True
    list_per_page = 50
    search_fields = ("=key",)
    search_help_text = "Exact key"
    paginator = InfinitePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    sortable_by = ()
    actions = None
    actions_detail = ["reverse_credit"]
    readonly_fields = ("player", "currency", "amount", "counts_as_earned", "source", "key", "reason", "created_by",
                       "reversal_link")  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reversal")

    @display(description="Reversal")
    def reversal_link(self, obj) -> str:
        reversal = getattr(obj, "reversal", None)
        if obj.reverses_id is not None:
            url = reverse("admin:gamification_walletentry_change", args=[obj.reverses_id])
            return format_html('Reverses <a class="text-primary-600" href="{}">#{}</a>', url, obj.reverses_id)
        if reversal is None:
            return "-"
        url = reverse("admin:gamification_walletentry_change", args=[reversal.pk])
        return format_html('Reversed by <a class="text-primary-600" href="{}">#{}</a>', url, reversal.pk)

    def _entry(self, request, object_id) -> WalletEntry:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No wallet entry with this id.")
        return obj

    def has_reverse_permission(self, request, object_id=None) -> bool:
        actor = self.actor(request)
        if object_id is None or not actor.can_anywhere(Perm.PLAYER_ACT):
            return actor.can_anywhere(Perm.PLAYER_ACT)
        return actor.can(Perm.PLAYER_ACT, self._entry(request, object_id).label_id)

    def get_actions_detail(self, request, object_id):
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None and (obj.amount < 0 or getattr(obj, "reversal", None) is not None):
            return []  # a debit, a reversal, or a credit already reversed
        return super().get_actions_detail(request, object_id)

    @action(description="Reverse", url_path="reverse", permissions=["reverse"], icon="undo")
    def reverse_credit(self, request, object_id):
        entry = self._entry(request, object_id)
        form = ReverseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = wallet_entry_reverse(entry=entry, reason=form.cleaned_data["reason"], created_by=request.user)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                if result.created:
                    done = f"Reversed {entry.amount:+,} {entry.currency}: {form.cleaned_data['reason']}"
                    self.log_change(request, entry, done)
                    messages.success(request, done)
                else:
                    messages.info(request, "This credit was already reversed.")
                return HttpResponseRedirect(object_url(self, entry))
        earned = " and the ever-earned and tournament points; the level follows" if entry.counts_as_earned else ""
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reverse {entry.amount:+,} {entry.currency} of {entry.player}",
            "opts": self.opts,
            "form": form,
            "text": f"Takes {entry.amount:,} {entry.currency} back from the balance{earned}. "
            "A credit is reversed once.",
            "button": "Reverse",
            "variant": "danger",
            "cancel_url": object_url(self, entry),
        }
        return TemplateResponse(request, "admin/gamification/credit_form.html", context)

    @display(description="Player")
    def player_link(self, obj) -> str:
        url = reverse("admin:crm_player_change", args=[obj.player_id])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, obj.player)

    @display(description="Amount")
    def signed_amount(self, obj) -> str:
        return f"{obj.amount:+,}"

    @display(description="Staff")
    def staff(self, obj) -> str:
        return obj.created_by.username if obj.created_by else "-"


class ReverseForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH, widget=UnfoldAdminTextInputWidget, help_text="Kept in the ledger and history."
    )


class WalletAdjustForm(forms.Form):
    currency = forms.ChoiceField(choices=Currency.choices, widget=UnfoldAdminSelectWidget)
    amount = forms.IntegerField(
        min_value=-(2**62) + 1,
        max_value=2**62 - 1,
        widget=UnfoldAdminIntegerFieldWidget,
        help_text="Positive credits, negative debits. A balance never goes below zero.",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH, widget=UnfoldAdminTextInputWidget, help_text="Kept in the ledger and history."
    )
    # Made when the form is shown: submitting the same form twice applies the adjustment once.
    key = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Must not be zero.")
        return amount


def wallet_panel(player: Player) -> dict:
    """Balances and the latest entries for the player page."""
    rows = [
        [entry.created_at, entry.get_currency_display(), f"{entry.amount:+,}", entry.get_source_display(), entry.reason]
        for entry in wallet_entries(player=player)[:PANEL_ENTRIES]
    ]
    return {
        "wallet": wallet_get(player=player),
        "table": {"headers": ["When", "Currency", "Amount", "Source", "Reason"], "rows": rows},
        "ledger_url": f"{reverse('admin:gamification_walletentry_changelist')}?player__id__exact={player.pk}",
        "limit": PANEL_ENTRIES,
        "withheld": WithheldCredit.objects.filter(player_id=player.pk).count(),
        "withheld_url": f"{reverse('admin:gamification_withheldcredit_changelist')}?player__id__exact={player.pk}",
    }


def wallet_adjust_view(model_admin, request, player: Player):
    """The "Adjust balance" page of a player: one manual ledger entry, logged in the player's history; a credit above
    the staff member's cap becomes a request for a second staff member's approval instead."""
    form = WalletAdjustForm(request.POST or None, initial={"key": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = manual_adjust(
                player=player,
                currency=data["currency"],
                amount=data["amount"],
                reason=data["reason"],
                key=str(data["key"]),
                staff=request.user,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            _adjust_report(model_admin, request, player, data, result)
            return HttpResponseRedirect(reverse("admin:crm_player_change", args=[player.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Adjust the balance of {player}",
        "form": form,
        "wallet": wallet_get(player=player),
        "caps": _caps(request, player),
        "not_active": player.core_account_status if player.core_account_status != AccountStatus.ACTIVE else None,
        "cancel_url": reverse("admin:crm_player_change", args=[player.pk]),
    }
    return TemplateResponse(request, "admin/gamification/wallet_adjust.html", context)


def _adjust_report(model_admin, request, player: Player, data: dict, result) -> None:
    if result.request is not None:
        pending = result.request
        if result.created:
            model_admin.log_change(
                request, player, f"Asked to credit {data['currency']} by {data['amount']:+} (request #{pending.pk}): "
                f"{data['reason']}",
            )  # fmt: skip
        url = reverse("admin:gamification_creditrequest_change", args=[pending.pk])
        messages.warning(
            request,
            format_html(
                '{} Another staff member with the approving right must approve it: <a href="{}">request #{}</a>.',
                pending.exceeded, url, pending.pk,
            ),
        )  # fmt: skip
    elif result.created:
        model_admin.log_change(request, player, f"Adjusted {data['currency']} by {data['amount']:+}: {data['reason']}")
        messages.success(request, f"Adjusted {data['currency']} by {data['amount']:+,}.")
    else:
        messages.info(request, "This adjustment was already applied.")


def _caps(request, player: Player) -> list[str]:
    """What the staff member may credit at once, per currency, for the form's help."""
    role = staff_role(user=request.user, label_id=player.label_id)
    if role is None:
        return []
    lines = []
    for currency in Currency.values:
        caps = credit_caps(label_id=player.label_id, role=role, currency=currency, user_id=request.user.pk)
        lines.append(f"{caps.per_adjustment:,} {currency} per credit, {caps.left_today:,} left today")
    return lines
