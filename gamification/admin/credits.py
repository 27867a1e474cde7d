"""Staff credits under four eyes in the admin: the queue of credits above a cap (counts, approve, reject, the history
of who asked, who decided and when), the caps per role and currency, and the credits withheld from players whose
account is not ACTIVE.

Everyone in a label sees its queue; approving and rejecting take the approving right (`Perm.CREDIT_APPROVE`: admins
and managers) and never the requester. Another label's request answers 404 like every other page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from gamification.models import DEFAULT_CREDIT_LIMITS, CreditLimit, CreditRequest, CreditRequestStatus, WithheldCredit
from gamification.selectors.credits import BADGE_CAP, credit_requests_pending_count
from gamification.services.credits import credit_request_approve, credit_request_reject
from gamification.services.wallet import MAX_REASON_LENGTH

VARIANTS = {CreditRequestStatus.PENDING: "warning", CreditRequestStatus.APPROVED: "success",
            CreditRequestStatus.REJECTED: "danger"}  # fmt: skip


def nav_credit_requests(request) -> bool:
    return admin.site.get_model_admin(CreditRequest).has_module_permission(request)


def nav_credit_requests_badge(request) -> str:
    """The sidebar's count of credits the user may decide: pending ones in the labels where they hold the right."""
    labels = LabelScopedAdmin.actor(request).labels_with(Perm.CREDIT_APPROVE)
    count = credit_requests_pending_count(label_ids=labels) if labels else 0
    return f"{BADGE_CAP}+" if count > BADGE_CAP else str(count) if count else ""


def nav_credit_limits(request) -> bool:
    return admin.site.get_model_admin(CreditLimit).has_module_permission(request)


def nav_withheld_credits(request) -> bool:
    return admin.site.get_model_admin(WithheldCredit).has_module_permission(request)


def _player_link(obj) -> str:
    return format_html(
        '<a class="text-primary-600" href="{}">{}</a>', reverse("admin:crm_player_change", args=[obj.player_id]),
        obj.player,
    )  # fmt: skip


class RejectForm(forms.Form):
    note = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text="Why, for the requester and the history (optional).",
    )


@admin.register(CreditRequest)
class CreditRequestAdmin(LabelScopedAdmin):
    """The queue: requests are made by the Adjust balance form, never added or edited here."""

    list_display = ("created_at", "player_link", "currency", "signed_amount", "reason", "requester", "status_badge",
                    "decider", "decided_at", "label")  # fmt: skip
    list_select_related = ("player__brand", "requested_by", "decided_by", "label")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("currency", ChoicesDropdownFilter),
        ("label", ScopedRelatedFilter),
    )
    list_filter_submit = True
    list_per_page = 50
    list_before_template = "admin/gamification/credit_requests_counts.html"
    show_facets = admin.ShowFacets.NEVER
    actions = None
    actions_detail = ["approve", "reject"]
    fields = ("player_link", "currency", "signed_amount", "reason", "exceeded", "status_badge", "requester",
              "created_at", "decider", "decided_at", "decision_note", "entry_link")  # fmt: skip
    readonly_fields = fields

    @display(description="Player")
    def player_link(self, obj) -> str:
        return _player_link(obj)

    @display(description="Amount")
    def signed_amount(self, obj) -> str:
        return f"+{obj.amount:,}"

    @display(description="Status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), VARIANTS.get(obj.status, ""))

    @display(description="Requested by")
    def requester(self, obj) -> str:
        return obj.requested_by.username if obj.requested_by else "-"

    @display(description="Decided by")
    def decider(self, obj) -> str:
        return obj.decided_by.username if obj.decided_by else "-"

    @display(description="Wallet entry")
    def entry_link(self, obj) -> str:
        if obj.entry_id is None:
            return "-"
        url = reverse("admin:gamification_walletentry_change", args=[obj.entry_id])
        return format_html('<a class="text-primary-600" href="{}">#{}</a>', url, obj.entry_id)

    def changelist_view(self, request, extra_context=None):
        rows = self.get_queryset(request).aggregate(
            **{status: Count("id", filter=Q(status=status)) for status in CreditRequestStatus.values}
        )
        counts = [(CreditRequestStatus(s).label, rows[s], VARIANTS[s]) for s in CreditRequestStatus.values]
        return super().changelist_view(request, {**(extra_context or {}), "credit_counts": counts})

    # --- decisions ------------------------------------------------------------------------------------------------
    def _request(self, request, object_id) -> CreditRequest:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("No credit request with this id.")
        return obj

    def has_decide_permission(self, request, object_id=None) -> bool:
        actor = self.actor(request)
        if object_id is None or not actor.can_anywhere(Perm.CREDIT_APPROVE):
            return actor.can_anywhere(Perm.CREDIT_APPROVE)
        obj = self._request(request, object_id)
        return actor.can(Perm.CREDIT_APPROVE, obj.label_id) and obj.requested_by_id != request.user.pk

    def get_actions_detail(self, request, object_id):
        obj = self.get_object(request, object_id) if object_id else None
        if obj is not None and obj.status != CreditRequestStatus.PENDING:
            return []
        return super().get_actions_detail(request, object_id)

    def _decided(self, request, obj: CreditRequest, result_decided: bool, done: str) -> None:
        if result_decided:
            self.log_change(request, obj, done)
            messages.success(request, done)
        else:
            fresh = CreditRequest.objects.select_related("decided_by").get(pk=obj.pk)
            who = fresh.decided_by.username if fresh.decided_by else "someone"
            messages.info(request, f"Already {fresh.get_status_display().lower()} by {who}: nothing changed.")

    @action(description="Approve", url_path="approve", permissions=["decide"], icon="check")
    def approve(self, request, object_id):
        obj = self._request(request, object_id)

        def perform() -> None:
            try:
                result = credit_request_approve(request_id=obj.pk, label_id=obj.label_id, approver=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
                return
            self._decided(request, obj, result.decided, f"Approved: +{obj.amount:,} {obj.currency} credited.")

        return confirmed_action(
            self, request, obj, title=f"Approve +{obj.amount:,} {obj.currency} for {obj.player}", button="Approve",
            text=f"Asked by {self.requester(obj)}: {obj.reason}. {obj.exceeded} The credit is applied once.",
            perform=perform,
        )  # fmt: skip

    @action(description="Reject", url_path="reject", permissions=["decide"], icon="close")
    def reject(self, request, object_id):
        obj = self._request(request, object_id)
        form = RejectForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = credit_request_reject(
                    request_id=obj.pk, label_id=obj.label_id, approver=request.user, note=form.cleaned_data["note"]
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                self._decided(request, obj, result.decided, f"Rejected: +{obj.amount:,} {obj.currency} not credited.")
            return HttpResponseRedirect(object_url(self, obj))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Reject +{obj.amount:,} {obj.currency} for {obj.player}",
            "opts": self.opts,
            "form": form,
            "text": f"Asked by {self.requester(obj)}: {obj.reason}. Nothing is credited.",
            "button": "Reject",
            "variant": "danger",
            "cancel_url": object_url(self, obj),
        }
        return TemplateResponse(request, "admin/gamification/credit_form.html", context)


@admin.register(CreditLimit)
class CreditLimitAdmin(LabelScopedAdmin):
    """Caps per role and currency; label admins set them. A role and currency without a row has the defaults."""

    add_perm = change_perm = delete_perm = Perm.LABEL_MANAGE
    list_display = ("role", "currency", "per_adjustment", "per_day", "default", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter),)
    fields = ("label", "role", "currency", "per_adjustment", "per_day")

    @display(description="Default (per adjustment / a day)")
    def default(self, obj) -> str:
        per_adjustment, per_day = DEFAULT_CREDIT_LIMITS[obj.role][obj.currency]
        return f"{per_adjustment:,} / {per_day:,}"


@admin.register(WithheldCredit)
class WithheldCreditAdmin(LabelScopedAdmin):
    """Automated credits not given because the player's account was not ACTIVE. Read-only for everyone."""

    list_display = ("created_at", "player_link", "withheld", "signed_amount", "source", "reason", "account_status")
    list_select_related = ("player__brand", "badge")
    list_filter = (
        ("label", ScopedRelatedFilter),
        ("currency", ChoicesDropdownFilter),
    )
    list_per_page = 50
    show_facets = admin.ShowFacets.NEVER
    actions = None
    search_fields = ("=key", "=player__user_ext_id")
    search_help_text = "Exact key or player id"
    readonly_fields = (
        "player", "currency", "amount", "badge", "source", "key", "reason", "account_status", "created_at",
    )  # fmt: skip

    @display(description="Player")
    def player_link(self, obj) -> str:
        return _player_link(obj)

    @display(description="Withheld")
    def withheld(self, obj) -> str:
        """The currency, or the badge for a badge award."""
        return f"Badge: {obj.badge.name}" if obj.badge_id else obj.get_currency_display()

    @display(description="Amount")
    def signed_amount(self, obj) -> str:
        return "-" if obj.badge_id else f"+{obj.amount:,}"
