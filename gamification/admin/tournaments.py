"""Tournament templates in the admin: a builder (texts, schedule, registration, scoring, prizes) with a preview of
how the tournament reads to a player, and Activate / Archive through confirmation pages.

Configuration: changed by roles that change gamification (admin, manager); support reads.
"""

from __future__ import annotations

import itertools

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import UnfoldAdminExpandableTextareaWidget

from backoffice.admin.base import LabelScopedAdmin, LabelScopedTabularInline
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from crm.catalogue import MONEY_FIELDS
from crm.models import Segment
from gamification.conditions import conditions_describe, conditions_validate
from gamification.models import Badge, Schedule, ScoreMethod, Tournament, TournamentPrize, TournamentStatus
from gamification.models.tournaments import tournament_field_errors
from gamification.selectors.tournaments import score_is_money

STATUS_VARIANTS = {"draft": "", "active": "success", "archived": "warning"}
NEXT_ACTION = {TournamentStatus.DRAFT: "activate", TournamentStatus.ACTIVE: "archive"}


def nav_tournaments(request) -> bool:
    """Sidebar: shown when the tournaments admin would let the user in."""
    model_admin = admin.site.get_model_admin(Tournament)
    return model_admin.has_module_permission(request) and model_admin.has_view_permission(request)


def duration_words(value) -> str:
    if value is None:
        return "-"
    seconds = int(value.total_seconds())
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return str(value)


class TournamentPrizeForm(forms.ModelForm):
    class Meta:
        model = TournamentPrize
        fields = ("place_from", "place_to", "points", "gems", "diamonds", "badge", "description")


class PrizeFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        ranges = sorted(
            (form.cleaned_data["place_from"], form.cleaned_data["place_to"])
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("place_from")
            and form.cleaned_data.get("place_to")
        )  # fmt: skip
        for (a_from, a_to), (b_from, b_to) in itertools.pairwise(ranges):
            if b_from <= a_to:
                raise ValidationError(f"Places {b_from} to {b_to} overlap places {a_from} to {a_to}.")
        for low, high in ranges:
            if high < low:
                raise ValidationError(f"Places {low} to {high}: the last place comes before the first.")
        label_id = getattr(self.instance, "label_id", None)
        for form in self.forms:
            prize_badge = form.cleaned_data.get("badge") if form.cleaned_data else None
            if prize_badge is not None and label_id is not None and prize_badge.label_id != label_id:
                form.add_error("badge", "Choose a badge of the tournament's own label.")


class TournamentPrizeInline(LabelScopedTabularInline):
    model = TournamentPrize
    form = TournamentPrizeForm
    formset = PrizeFormSet
    extra = 0
    fields = ("place_from", "place_to", "points", "gems", "diamonds", "badge", "description")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "badge":
            actor = LabelScopedAdmin.actor(request)
            kwargs["queryset"] = Badge.objects.for_actor(actor, Perm.CONFIG_CHANGE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class TournamentForm(forms.ModelForm):
    class Meta:
        model = Tournament
        fields = ("label", "conditions")

    def clean_conditions(self):
        value = self.cleaned_data["conditions"]
        try:
            conditions_validate(value)
        except ValidationError as exc:  # its own message, not the JSON field's "Enter a valid JSON"
            raise ValidationError(exc.messages, code="conditions") from exc
        return value


@admin.register(Tournament)
class TournamentAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    form = TournamentForm
    scoped_foreign_keys = {**LabelScopedAdmin.scoped_foreign_keys, "audience": Segment}
    inlines = (TournamentPrizeInline,)
    list_display = ("name", "status_badge", "schedule_words", "registration_type", "scoring", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), ("status", ChoicesDropdownFilter))
    search_fields = ("name",)
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        models.JSONField: {"widget": UnfoldAdminExpandableTextareaWidget(attrs={"rows": 2})},
    }
    actions_detail = ["activate", "archive"]
    readonly_fields = ("status", "conditions_words", "preview")
    fieldsets = (
        ("Texts", {"fields": ("label", "name", "status", "names", "descriptions", "image_url", "custom")}),
        ("Schedule", {"fields": ("schedule", "starts_at", "duration", "repeat_every", "repeat_until",
                                 "publish_before", "registration_opens_before")}),
        ("Registration", {"fields": ("registration_type", "audience", "buy_in_amount", "buy_in_currency",
                                     "min_players", "max_players")}),
        ("Scoring", {"fields": ("event_type", "conditions", "conditions_words", "score_method", "score_field",
                                "max_counted_events", "leaderboard_size")}),
        ("Preview", {"fields": ("preview",)}),
    )  # fmt: skip

    def change_view(self, request, object_id, form_url="", extra_context=None):
        tournament = self.get_object(request, object_id) if request.method == "GET" else None
        if tournament is not None and tournament.status != TournamentStatus.ARCHIVED:
            _config_warn(request, tournament)
        return super().change_view(request, object_id, form_url, extra_context)

    def protected_summary(self, objs) -> list[str]:
        used = [t for t in objs if t.instances.exists()]
        return [f"{t} has instances: archive it instead." for t in used]

    @display(description="Status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), STATUS_VARIANTS.get(obj.status, ""))

    @display(description="Schedule")
    def schedule_words(self, obj) -> str:
        return schedule_words(obj)

    @display(description="Scoring")
    def scoring(self, obj) -> str:
        return scoring_words(obj)

    @display(description="Conditions in plain words")
    def conditions_words(self, obj) -> str:
        return conditions_describe(obj.conditions or []) if obj and obj.pk else "-"

    @display(description="How players see it")
    def preview(self, obj) -> str:
        if obj is None or not obj.pk:
            return "Save the tournament to see its preview."
        return tournament_preview(obj)

    # --- transitions ----------------------------------------------------------------------------------------------
    def get_actions_detail(self, request, object_id):
        tournament = self.get_object(request, object_id) if object_id else None
        wanted = NEXT_ACTION.get(getattr(tournament, "status", None))
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"  # unfold names actions after the model
        return [a for a in super().get_actions_detail(request, object_id) if a.action_name == f"{prefix}{wanted}"]

    def has_transition_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.actor(request).can_anywhere(Perm.CONFIG_CHANGE)
        tournament = self.get_object(request, object_id)
        if tournament is None:
            raise Http404("No tournament with this id.")
        return self.actor(request).can(Perm.CONFIG_CHANGE, tournament.label_id)

    @action(description="Activate", url_path="activate", permissions=["transition"], icon="play_arrow")
    def activate(self, request, object_id):
        text = "Instances are published on schedule and players can see, join and score in them."
        return self._transition(request, object_id, TournamentStatus.ACTIVE, "Activate", text)

    @action(description="Archive", url_path="archive", permissions=["transition"], icon="archive")
    def archive(self, request, object_id):
        text = "No new instances are published. Running ones finish normally. This cannot be undone."
        return self._transition(request, object_id, TournamentStatus.ARCHIVED, "Archive", text)

    def _transition(self, request, object_id, to: str, verb: str, text: str):
        from gamification.services.tournaments import tournament_transition

        tournament = self.get_object(request, object_id)
        if tournament is None:
            raise Http404("No tournament with this id.")

        def perform() -> None:
            try:
                tournament_transition(tournament=tournament, to=to)
            except DomainError as exc:
                details = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.errors.items())
                messages.error(request, f"{exc.message} {details}".strip())
                return
            self.log_change(request, tournament, f"Status: {to}.")
            messages.success(request, f"{tournament} is {to}.")

        if NEXT_ACTION.get(tournament.status) != verb.lower():
            messages.error(request, f"A {tournament.status} tournament cannot become {to}.")
            return HttpResponseRedirect(object_url(self, tournament))
        title = f"{verb} {tournament}"
        return confirmed_action(self, request, tournament, title=title, text=text, button=verb, perform=perform)


def _config_warn(request, tournament: Tournament) -> None:
    """Say what a stored template has that the checks made when saving now refuse (saved before them, or its event
    type changed since); saving it asks for the fix on each field."""
    errors = tournament_field_errors(tournament)
    if not errors:
        return
    details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    if tournament.status == TournamentStatus.DRAFT:
        messages.warning(request, f"Fix before activating: {details}")
    else:
        messages.warning(request, f"This tournament does not fit the event catalogue: {details} Fix it and save.")


def schedule_words(t: Tournament) -> str:
    when = f"{t.starts_at:%d %b %Y %H:%M} UTC" if t.starts_at else "-"
    length = duration_words(t.duration)
    if t.schedule == Schedule.REPEATING:
        until = f" until {t.repeat_until:%d %b %Y}" if t.repeat_until else ""
        return f"Every {duration_words(t.repeat_every)} from {when}{until}, {length} each"
    return f"Once, {when}, for {length}"


def scoring_words(t: Tournament) -> str:
    where = "" if not t.conditions else f" where {conditions_describe(t.conditions)}"
    if t.score_method == ScoreMethod.COUNT:
        what = f"1 point per {t.event_type} event{where}"
    elif t.score_method == ScoreMethod.SUM:
        what = f"the sum of {t.score_field} of {t.event_type} events{where}"
    else:
        what = f"the best single {t.score_field} of a {t.event_type} event{where}"
    cap = f" (the first {t.max_counted_events} events count)" if t.max_counted_events else ""
    return f"{what}{cap}{_money_words(t)}"


def _money_words(t: Tournament) -> str:
    """Where amounts of money count or are compared: in which currency."""
    conditions = [c for c in t.conditions or [] if isinstance(c, dict)]
    money_conditions = any((t.event_type, c.get("field")) in MONEY_FIELDS for c in conditions)
    if not t.label_id or not (score_is_money(t) or money_conditions):
        return ""
    return f", amounts in {t.label.base_currency} (the label's base currency, converted at the rate of their day)"


def _registration_words(t: Tournament) -> str:
    words = {
        "auto": "Everyone who plays is in.",
        "opt_in": "Players join with one click.",
        "buy_in": f"Players join for {t.buy_in_amount} {t.buy_in_currency}.",
        "manual": "Players ask to join; staff approve.",
    }[t.registration_type]
    limits = f" At least {t.min_players} players." if t.min_players else ""
    if t.max_players:
        limits += f" At most {t.max_players}."
    return words + limits


def tournament_preview(t: Tournament) -> str:
    """The tournament as a player would read it: when, how to join, what scores, what wins."""
    prizes = format_html_join(
        "",
        "<tr><td class='pr-4'>{}</td><td>{}</td></tr>",
        ((_places(p), _prize_words(p)) for p in t.prizes.select_related("badge").order_by("place_from")),
    )
    return format_html(
        "<div class='max-w-2xl'><p class='font-semibold'>{}</p><p>{}</p><p>{}</p><p>Score: {}.</p>"
        "<table class='mt-2'><thead><tr><th class='pr-4 text-left'>Places</th><th class='text-left'>Prize</th></tr>"
        "</thead><tbody>{}</tbody></table></div>",
        t.names.get("EN") or t.name,
        schedule_words(t),
        _registration_words(t),
        scoring_words(t),
        prizes or format_html("<tr><td colspan='2'>{}</td></tr>", "No prizes yet."),
    )


def _places(prize: TournamentPrize) -> str:
    return str(prize.place_from) if prize.place_from == prize.place_to else f"{prize.place_from} to {prize.place_to}"


def _prize_words(prize: TournamentPrize) -> str:
    parts = [f"{getattr(prize, c):,} {c}" for c in ("points", "gems", "diamonds") if getattr(prize, c)]
    if prize.badge_id:
        parts.append(f"badge “{prize.badge}”")
    if prize.description:
        parts.append(prize.description)
    return ", ".join(parts) or "-"
