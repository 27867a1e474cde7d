"""The wallet in the admin: a read-only ledger explorer, the balances on the player page, and manual adjustments.

Nobody adds, edits or deletes ledger entries here: staff change a balance only through the "Adjust balance" form,
which writes one entry through `wallet_adjust`, like every other source.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import display
from unfold.paginator import InfinitePaginator
from unfold.widgets import UnfoldAdminIntegerFieldWidget, UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.errors import DomainError
from crm.models import Player
from gamification.models import Currency, WalletEntry, WalletSource
from gamification.selectors import wallet_entries, wallet_get
from gamification.services.wallet import MAX_REASON_LENGTH, wallet_adjust

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
    readonly_fields = ("player", "currency", "amount", "counts_as_earned", "source", "key", "reason", "created_by")

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
        for entry in wallet_entries(player)[:PANEL_ENTRIES]
    ]
    return {
        "wallet": wallet_get(player),
        "table": {"headers": ["When", "Currency", "Amount", "Source", "Reason"], "rows": rows},
        "ledger_url": f"{reverse('admin:gamification_walletentry_changelist')}?player__id__exact={player.pk}",
        "limit": PANEL_ENTRIES,
    }


def wallet_adjust_view(model_admin, request, player: Player):
    """The "Adjust balance" page of a player: one manual ledger entry, logged in the player's history."""
    form = WalletAdjustForm(request.POST or None, initial={"key": uuid.uuid4()})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = wallet_adjust(
                player=player,
                currency=data["currency"],
                amount=data["amount"],
                source=WalletSource.MANUAL,
                key=f"manual:{data['key']}",
                reason=data["reason"],
                created_by=request.user,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if result.created:
                model_admin.log_change(
                    request, player, f"Adjusted {data['currency']} by {data['amount']:+}: {data['reason']}"
                )
                messages.success(request, f"Adjusted {data['currency']} by {data['amount']:+,}.")
            else:
                messages.info(request, "This adjustment was already applied.")
            return HttpResponseRedirect(reverse("admin:crm_player_change", args=[player.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Adjust the balance of {player}",
        "form": form,
        "wallet": wallet_get(player),
        "cancel_url": reverse("admin:crm_player_change", args=[player.pk]),
    }
    return TemplateResponse(request, "admin/gamification/wallet_adjust.html", context)
