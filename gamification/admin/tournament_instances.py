"""Tournament instances in the admin: a read-only list and page, state-guarded actions for those who change
gamification (open registration now, start now, cancel with a reason, approve or reject pending players), and a live
leaderboard page that refreshes itself while the tournament runs. Support reads, and acts on nothing."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminTextInputWidget

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from crm.models import Player
from gamification.models import InstanceStatus, ParticipantStatus, TournamentInstance, TournamentParticipant
from gamification.selectors.tournaments import tournament_leaderboard
from gamification.services.tournament_registration import participant_approve, participant_reject
from gamification.services.tournaments import (
    CANCELLABLE,
    MAX_REASON,
    instance_cancel,
    instance_open_registration,
    instance_start,
)

ACT_PERM = Perm.CONFIG_CHANGE
VARIANTS = {"published": "", "registration": "info", "started": "primary", "finalizing": "warning",
            "finished": "success", "cancelled": "danger", "failed": "danger"}  # fmt: skip
ALLOWED = {
    "open_registration": (InstanceStatus.PUBLISHED,),
    "start_now": (InstanceStatus.PUBLISHED, InstanceStatus.REGISTRATION),
    "cancel": CANCELLABLE,
}
PENDING_SHOWN = 50
REFRESH_SECONDS = 5


def nav_instances(request) -> bool:
    model_admin = admin.site.get_model_admin(TournamentInstance)
    return model_admin.has_module_permission(request) and model_admin.has_view_permission(request)


class CancelForm(forms.Form):
    reason = forms.CharField(
        max_length=MAX_REASON,
        widget=UnfoldAdminTextInputWidget,
        help_text="Kept on the instance; buy-ins are refunded.",
    )


@admin.register(TournamentInstance)
class TournamentInstanceAdmin(LabelScopedAdmin):
    """Instances come from their template's schedule: nobody adds, edits or deletes them here."""

    list_display = ("tournament", "status_badge", "starts_at", "ends_at", "participant_count", "board_link", "label")
    list_select_related = ("tournament", "label")
    list_filter = (("label", ScopedRelatedFilter), ("status", ChoicesDropdownFilter))
    search_fields = ("tournament__name",)
    actions = None
    actions_detail = ["open_registration", "start_now", "cancel", "leaderboard_page"]
    fields = ("tournament", "status_badge", "status_reason", "registration_opens_at", "starts_at", "ends_at",
              "participant_count", "finalized_at", "pending_players", "excluded_players", "board_link")  # fmt: skip
    readonly_fields = fields

    def get_object(self, request, object_id, from_field=None):
        """Read once per request: the page, its buttons and the action all ask for the instance."""
        cache = request.__dict__.setdefault("_pitboss_instances", {})
        key = (str(object_id), from_field)
        if key not in cache:
            cache[key] = super().get_object(request, object_id, from_field)
        return cache[key]

    def _instance(self, request, object_id) -> TournamentInstance:
        instance = self.get_object(request, object_id)
        if instance is None:
            raise Http404("No tournament instance with this id.")
        return instance

    @display(description="Status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), VARIANTS.get(obj.status, ""))

    @display(description="Leaderboard")
    def board_link(self, obj) -> str:
        url = reverse("admin:gamification_tournamentinstance_leaderboard", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, "Leaderboard")

    @display(description="Awaiting approval")
    def pending_players(self, obj) -> str:
        pending = (
            TournamentParticipant.objects.filter(instance=obj, status=ParticipantStatus.PENDING)
            .select_related("player__brand")
            .order_by("registered_at")[:PENDING_SHOWN]
        )
        rows = [
            (p.player, _participant_url(obj, p.player_id, "approve"), _participant_url(obj, p.player_id, "reject"))
            for p in pending
        ]
        if not rows:
            return "-"
        return format_html_join(
            "",
            '<div>{} · <a class="text-primary-600" href="{}">Approve</a> · '
            '<a class="text-primary-600" href="{}">Reject</a></div>',
            rows,
        )

    @display(description="Off the board")
    def excluded_players(self, obj) -> str:
        """Participants whose account is not ACTIVE (the label's setting): not counted, ranked or placed."""
        rows = TournamentParticipant.objects.filter(instance=obj, status=ParticipantStatus.EXCLUDED)
        shown = list(rows.select_related("player__brand").order_by("player_id")[:PENDING_SHOWN])
        if not shown:
            return "-"
        total = len(shown) if len(shown) < PENDING_SHOWN else rows.count()
        names = format_html_join(", ", "{} ({})", ((p.player, p.player.core_account_status) for p in shown))
        return format_html(
            "{} not ranked while their account is not ACTIVE, back with their score once it is: {}", total, names
        )

    # --- actions --------------------------------------------------------------------------------------------------
    def get_actions_detail(self, request, object_id):
        instance = self.get_object(request, object_id) if object_id else None
        status = getattr(instance, "status", None)
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"  # unfold names actions after the model
        return [
            a
            for a in super().get_actions_detail(request, object_id)
            if a.action_name.removeprefix(prefix) not in ALLOWED
            or status in ALLOWED[a.action_name.removeprefix(prefix)]
        ]

    def has_act_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.actor(request).can_anywhere(ACT_PERM)
        return self.actor(request).can(ACT_PERM, self._instance(request, object_id).label_id)

    def has_board_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.actor(request).can_anywhere(Perm.VIEW)
        return self.actor(request).can(Perm.VIEW, self._instance(request, object_id).label_id)

    def _run(self, request, instance, done: str, perform) -> None:
        try:
            perform()
        except DomainError as exc:
            details = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.errors.items())
            messages.error(request, f"{exc.message} {details}".strip())
            return
        self.log_change(request, instance, done)
        messages.success(request, done)

    def _guarded(self, request, object_id, name: str):
        instance = self._instance(request, object_id)
        if instance.status not in ALLOWED[name]:
            messages.error(request, f"Not possible while the instance is {instance.status}.")
            return instance, HttpResponseRedirect(object_url(self, instance))
        return instance, None

    @action(description="Open registration now", url_path="open-registration", permissions=["act"], icon="how_to_reg")
    def open_registration(self, request, object_id):
        instance, refused = self._guarded(request, object_id, "open_registration")
        return refused or confirmed_action(
            self, request, instance, title=f"Open registration of {instance}", button="Open registration",
            text="Players can register from now on, before the start.",
            perform=lambda: self._run(request, instance, "Registration opened.",
                                      lambda: instance_open_registration(instance=instance)),
        )  # fmt: skip

    @action(description="Start now", url_path="start", permissions=["act"], icon="play_arrow")
    def start_now(self, request, object_id):
        instance, refused = self._guarded(request, object_id, "start_now")
        return refused or confirmed_action(
            self, request, instance, title=f"Start {instance} now", button="Start now",
            text="The tournament starts scoring now; it still ends at its end time. The minimum players applies.",
            perform=lambda: self._run(request, instance, "Started.", lambda: instance_start(instance=instance)),
        )  # fmt: skip

    @action(description="Cancel", url_path="cancel", permissions=["act"], icon="cancel")
    def cancel(self, request, object_id):
        instance, refused = self._guarded(request, object_id, "cancel")
        if refused:
            return refused
        form = CancelForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._run(
                request, instance, f"Cancelled: {reason}", lambda: instance_cancel(instance=instance, reason=reason)
            )
            return HttpResponseRedirect(object_url(self, instance))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cancel {instance}",
            "opts": self.opts,
            "form": form,
            "text": "No one scores any more and every buy-in is refunded. This cannot be undone.",
            "cancel_url": object_url(self, instance),
        }
        return TemplateResponse(request, "admin/gamification/tournament_cancel.html", context)

    @action(description="Leaderboard", url_path="leaderboard-page", permissions=["board"], icon="leaderboard")
    def leaderboard_page(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:gamification_tournamentinstance_leaderboard", args=[object_id]))

    # --- pending players and the leaderboard page -----------------------------------------------------------------
    def get_urls(self):
        extra = [
            path(
                "<path:object_id>/participants/<int:player_id>/<str:decision>/",
                self.admin_site.admin_view(self.participant_view),
                name="gamification_tournamentinstance_participant",
            ),
            path(
                "<path:object_id>/leaderboard/",
                self.admin_site.admin_view(self.leaderboard_view),
                name="gamification_tournamentinstance_leaderboard",
            ),
        ]
        return [*extra, *super().get_urls()]

    def participant_view(self, request, object_id, player_id: int, decision: str):
        instance = self._instance(request, object_id)
        if decision not in ("approve", "reject"):
            raise Http404("No such decision.")
        if not self.has_act_permission(request, object_id):
            raise PermissionDenied
        player = Player.objects.filter(pk=player_id, label_id=instance.label_id).select_related("brand").first()
        if player is None:
            raise Http404("No such player.")
        service = participant_approve if decision == "approve" else participant_reject
        verb = decision.capitalize()
        return confirmed_action(
            self, request, instance, title=f"{verb} {player} in {instance}", button=verb,
            text="Approved players enter the leaderboard (within the maximum); rejected ones do not.",
            perform=lambda: self._run(request, instance, f"{verb}d {player}.",
                                      lambda: service(instance=instance, player=player)),
        )  # fmt: skip

    def leaderboard_view(self, request, object_id):
        instance = self._instance(request, object_id)
        query = request.GET.get("q", "").strip()
        player = None
        if query:
            player = (
                Player.objects.filter(label_id=instance.label_id, user_ext_id=query).select_related("brand").first()
            )
        board = tournament_leaderboard(instance=instance, player=player)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Leaderboard · {instance}",
            "opts": self.opts,
            "instance": instance,
            "top": _rows(board.top, board.players),
            "around": _rows(board.around, {**board.players, **({player.pk: player} if player else {})}),
            "query": query,
            "found": board.me is not None,
            "currency": board.score_currency,
            "searched": bool(query),
            "refresh": REFRESH_SECONDS if instance.status == InstanceStatus.STARTED else None,
            "back_url": object_url(self, instance),
        }
        return TemplateResponse(request, "admin/gamification/tournament_leaderboard.html", context)


def _participant_url(instance, player_id: int, decision: str) -> str:
    return reverse("admin:gamification_tournamentinstance_participant", args=[instance.pk, player_id, decision])


def _rows(standings, players) -> list[dict]:
    rows = []
    for standing in standings:
        player = players.get(standing.player_id)
        rows.append(
            {
                "place": standing.place,
                "player": player or standing.player_id,
                "url": reverse("admin:crm_player_change", args=[standing.player_id]),
                "score": format(standing.score.normalize(), "f"),
                "reached_at": standing.reached_at,
                "events": standing.events_counted,
            }
        )
    return rows
