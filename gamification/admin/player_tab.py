"""Gamification on the player page: the wallet card under the profile, the Gamification tab, and staff actions.

Registered into the CRM's player page (crm.admin.player_pages), so the CRM does not depend on gamification.
The tab renders `gamification_state`, the same selector the API's GET …/gamification and the widget use.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from backoffice.admin.helpers import badge
from backoffice.errors import DomainError
from backoffice.models import Perm
from backoffice.scoping import actor_for_request
from crm.admin.player_pages import PlayerPage, PlayerPanel, player_page_register, player_panel_register
from crm.models import AccountStatus, Player
from gamification.admin.wallet import wallet_adjust_view, wallet_panel
from gamification.models import Badge, BadgeAward, StorePurchase
from gamification.selectors import wallet_entries
from gamification.selectors.state import gamification_state
from gamification.selectors.tournaments import score_currency
from gamification.services.badges import badge_award

RECENT = 10


def _can_act(request, player: Player) -> bool:
    return actor_for_request(request).can(Perm.PLAYER_ACT, player.label_id)


def wallet_card(request, player: Player) -> dict:
    return {**wallet_panel(player), "can_act": _can_act(request, player), "player": player}


def gamification_tab_view(model_admin, request, player: Player):
    """Everything the player sees of gamification, plus the latest ledger entries, purchases and badge awards."""
    state = gamification_state(player=player)
    ledger = wallet_entries(player=player)[:RECENT]
    purchases = StorePurchase.objects.filter(player_id=player.pk).select_related("item").order_by("-id")[:RECENT]
    awards = BadgeAward.objects.filter(player_id=player.pk).select_related("badge", "created_by").order_by("-id")
    context = {
        **model_admin.admin_site.each_context(request),
        **model_admin.player_tabs_context(request, player, active="gamification"),
        "title": f"{player} · gamification",
        "player": player,
        "state": state,
        "missions": _table(["Mission", "Type", "State", "Progress", "Run", "Ends"], _mission_rows(state.missions)),
        "badges": _table(["Badge", "Earned", "Stage", "When"], _badge_rows(state.badges)),
        "tournaments": _table(
            ["Tournament", "Status", "Entry", "Score", "Place", "Runs"], _tournament_rows(state.tournaments)
        ),
        "ledger": _table(
            ["When", "Currency", "Amount", "Source", "Reason"],
            [
                [e.created_at, e.get_currency_display(), f"{e.amount:+,}", e.get_source_display(), e.reason]
                for e in ledger
            ],
        ),
        "ledger_url": f"{reverse('admin:gamification_walletentry_changelist')}?player__id__exact={player.pk}",
        "purchases": _table(
            ["When", "Item", "Price", "Status"],
            [[p.created_at, p.item.name, f"{p.price:,} {p.currency}", p.get_status_display()] for p in purchases],
        ),
        "awards": _table(
            ["When", "Badge", "Stage", "Source", "By", "Reason"],
            [
                [
                    a.created_at,
                    a.badge.name,
                    a.stage,
                    a.source,
                    a.created_by.username if a.created_by else "-",
                    a.reason,
                ]
                for a in awards[:RECENT]
            ],
        ),
        "can_act": _can_act(request, player),
        "opts": Player._meta,
        "original": player,
    }
    return TemplateResponse(request, "admin/gamification/player_tab.html", context)


STATE_VARIANTS = {
    "locked": "", "available": "info", "in_progress": "primary", "completed": "success", "claimed": "success",
    "missed": "warning",
}  # fmt: skip
STATUS_VARIANTS = {
    "published": "info", "registration": "info", "started": "primary", "finalizing": "warning", "finished": "success",
    "cancelled": "", "failed": "danger",
}  # fmt: skip


def _table(headers: list[str], rows: list[list]) -> dict:
    return {"headers": headers, "rows": rows}


def _mission_rows(missions) -> list[list]:
    rows = []
    for m in missions:
        tasks = ", ".join(f"{t.name}: {_num(t.value)}/{_num(t.target)}" for t in m.tasks) or "-"
        name = f"★ {m.name}" if m.is_featured else m.name
        link = format_html('<a class="text-primary-600" href="{}">{}</a>', _change("mission", m.id), name)
        ends = m.expires_at or m.active_till or "-"
        rows.append([link, m.type.replace("_", " "), badge(m.state.replace("_", " "), STATE_VARIANTS.get(m.state, "")),
                     tasks, f"{m.run}{f' · {m.cycle}' if m.cycle else ''}", ends])  # fmt: skip
    return rows


def _badge_rows(badges) -> list[list]:
    return [
        [
            format_html('<a class="text-primary-600" href="{}">{}</a>', _change("badge", b.id), b.name),
            badge("earned", "success") if b.earned else badge("not yet"),
            f"{b.stage or 0} of {b.stage_count}",
            b.earned_at or "-",
        ]
        for b in badges
    ]


def _tournament_rows(tournaments) -> list[list]:
    rows = []
    for t in tournaments:
        instance, entry, standing = t.instance, t.participation, t.standing
        link = format_html(
            '<a class="text-primary-600" href="{}">{}</a>', _change("tournamentinstance", instance.pk), instance
        )
        state = entry.get_status_display() if entry else ("may register" if t.can_register else "-")
        rows.append([
            link,
            badge(instance.get_status_display(), STATUS_VARIANTS.get(instance.status, "")),
            state,
            _score(standing.score, score_currency(instance)) if standing else "-",
            standing.place if standing else "-",
            f"{instance.starts_at:%Y-%m-%d %H:%M} → {instance.ends_at:%Y-%m-%d %H:%M}",
        ])  # fmt: skip
    return rows


def _score(value, currency: str | None) -> str:
    return f"{_num(value)} {currency}" if currency else _num(value)


def _num(value) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value is not None else "-"


def _change(model: str, pk: int) -> str:
    return reverse(f"admin:gamification_{model}_change", args=[pk])


class BadgeAwardForm(forms.Form):
    badge = forms.ModelChoiceField(queryset=Badge.objects.none(), widget=UnfoldAdminSelectWidget)
    reason = forms.CharField(max_length=500, widget=UnfoldAdminTextInputWidget, help_text="Kept with the award.")
    key = forms.UUIDField(widget=forms.HiddenInput)  # submitting the same form twice awards once

    def __init__(self, *args, player: Player, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["badge"].queryset = Badge.objects.for_label(player.label_id).filter(is_active=True)
        self.fields["badge"].help_text = "The player reaches the badge's next stage."


def badge_award_view(model_admin, request, player: Player):
    """Award a badge (its next stage) by hand, with a reason, once per submitted form."""
    form = BadgeAwardForm(request.POST or None, initial={"key": uuid.uuid4()}, player=player)
    back = reverse("admin:crm_player_gamification", args=[player.pk])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = badge_award(
                player=player,
                badge=data["badge"],
                source="manual",
                key=f"manual:{data['key']}",
                reason=data["reason"],
                created_by=request.user,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            if result.created and result.award is not None:
                model_admin.log_change(request, player, f"Awarded badge {data['badge']}: {data['reason']}")
                messages.success(request, f"Awarded {data['badge']} (stage {result.award.stage}).")
            else:
                messages.info(request, "This award was already made.")
            return HttpResponseRedirect(back)
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Award a badge to {player}",
        "form": form,
        "submit_label": "Award badge",
        "cancel_url": back,
        "warning": _not_active_warning(player),
    }
    return TemplateResponse(request, "admin/gamification/player_form.html", context)


def _not_active_warning(player: Player) -> str:
    """Staff may award a badge to a player whose account is not ACTIVE; the form says what automated awards do."""
    status = player.core_account_status
    if status == AccountStatus.ACTIVE:
        return ""
    return (
        f"The player's account is {status}, not ACTIVE: they receive no automated rewards or badges. "
        "A badge awarded here is still given."
    )


player_panel_register(PlayerPanel(template="admin/gamification/wallet_panel.html", context=wallet_card, order=10))
player_page_register(
    PlayerPage(name="gamification", path="gamification", view=gamification_tab_view, tab="Gamification")
)
player_page_register(
    PlayerPage(name="adjust_balance", path="adjust-balance", view=wallet_adjust_view, permission=Perm.PLAYER_ACT)
)
player_page_register(
    PlayerPage(name="award_badge", path="award-badge", view=badge_award_view, permission=Perm.PLAYER_ACT)
)
