"""The mission builder: tasks inline, rewards, type, unlock and schedule; Activate and Archive as guarded actions.

Once a mission is active, players' runs depend on its tasks and rewards: those (and its type, unlock and schedule)
become read-only; its texts, image, position and featured flag stay editable. Status changes only through
`mission_transition`, which checks the mission is complete before activating it.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import IntegerField, OuterRef, Subquery
from django.http import Http404, HttpResponseRedirect
from django.utils.html import format_html, format_html_join
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminCheckboxSelectMultipleWidget,
    UnfoldAdminExpandableTextareaWidget,
    UnfoldAdminTextInputWidget,
)

from backoffice.admin.base import LabelScopedAdmin, LabelScopedTabularInline
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from crm.admin.builder import (
    DurationWordsField,
    DurationWordsWidget,
    EventConditionsField,
    duration_words,
    events_words,
    name_words,
)
from crm.models import Segment
from gamification.conditions import conditions_describe, conditions_validate
from gamification.handlers.mission_config import missions_cache_clear
from gamification.models import (
    Badge,
    Level,
    Mission,
    MissionOpenDelta,
    MissionStatus,
    MissionTask,
    MissionType,
    PlayerMission,
    Recurrence,
)
from gamification.services.missions import DONE_STATES, REWARD_CURRENCIES, mission_config_errors, mission_transition

STATUS_VARIANTS = {MissionStatus.DRAFT: "", MissionStatus.ACTIVE: "success", MissionStatus.ARCHIVED: "warning"}
ALWAYS_EDITABLE = ("name", "names", "descriptions", "image_url", "custom", "position", "is_featured")
NEXT_ACTION = {MissionStatus.DRAFT: "activate", MissionStatus.ACTIVE: "archive"}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _editable(obj) -> bool:
    return obj is None or obj.status == MissionStatus.DRAFT


def _conditions_checked(value):
    """Field validators coded "invalid" get their message replaced by the JSON field's own ("Enter a valid JSON"):
    raise the condition's own message under another code."""
    try:
        conditions_validate(value)
    except ValidationError as exc:
        raise ValidationError(exc.messages, code="conditions") from exc
    return value


class MissionTaskForm(forms.ModelForm):
    conditions = EventConditionsField(
        type_field="event_type", number_fields=("sum_field",), money_in_base_currency=True, label="Conditions"
    )

    class Meta:
        model = MissionTask
        fields = ("conditions",)

    def clean_conditions(self):
        return _conditions_checked(self.cleaned_data["conditions"])


class MissionTaskFormSet(forms.BaseInlineFormSet):
    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        # A task's clean() checks it against its label's event catalogue: give it the mission, unsaved on the add page.
        form.instance.mission = self.instance
        return form


class MissionTaskInline(LabelScopedTabularInline):
    model = MissionTask
    form = MissionTaskForm
    formset = MissionTaskFormSet
    extra = 0
    # Stacked: each task's condition builder needs the page's width, which a table cell does not give it.
    template = "admin/edit_inline/stacked.html"
    fields = (("name", "position"), "event_type", "conditions", "described", ("aggregation", "sum_field"),
              ("target", "window"))  # fmt: skip
    readonly_fields = ("described",)
    formfield_overrides = {models.DurationField: {"form_class": DurationWordsField, "widget": DurationWordsWidget}}

    @display(description="In plain words")
    def described(self, obj) -> str:
        return conditions_describe(obj.conditions) if obj and obj.pk else "-"

    def writable(self, obj) -> bool:
        return _editable(obj)


class MissionForm(forms.ModelForm):
    recurrence_weekdays = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAYS)),
        coerce=int,
        required=False,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        help_text="Recurring on weekdays: the days it runs.",
    )
    recurrence_month_days = forms.CharField(
        required=False,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "1, 15, 28"}),
        help_text="Recurring on days of the month: the days it runs, 1 to 31, separated by commas.",
    )
    unlock_event_conditions = EventConditionsField(
        type_field="unlock_event_type",
        label="Unlock event conditions",
        help_text="Conditions on the unlocking event's fields; every one must hold.",
    )

    class Meta:
        model = Mission
        # The admin builds the real form from its fieldsets; these are the fields clean() checks.
        fields = ("label", "unlock_level", "unlock_mission", "unlock_event_conditions", "reward_badge")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "recurrence_month_days" in self.fields and not self.is_bound:
            self.initial["recurrence_month_days"] = ", ".join(map(str, self.instance.recurrence_month_days or []))

    def clean_recurrence_month_days(self) -> list[int]:
        text = self.cleaned_data.get("recurrence_month_days") or ""
        days = []
        for part in filter(None, (p.strip() for p in text.replace(";", ",").split(","))):
            if not part.isdigit() or not 1 <= int(part) <= 31:
                raise ValidationError(f"{part!r} is not a day of the month (1 to 31).", code="month_day")
            days.append(int(part))
        return sorted(set(days))

    def clean_recurrence_weekdays(self) -> list[int]:
        return sorted(set(self.cleaned_data.get("recurrence_weekdays") or []))

    def clean_unlock_event_conditions(self):
        return _conditions_checked(self.cleaned_data["unlock_event_conditions"])

    def clean(self):
        data = super().clean()
        label = data.get("label") or getattr(self.instance, "label", None)
        for name in ("unlock_level", "unlock_mission", "reward_badge"):
            related = data.get(name)
            if related is not None and label is not None and related.label_id != label.pk:
                self.add_error(name, "Choose one of the mission's own label.")
        if data.get("unlock_mission") is not None and data["unlock_mission"].pk == self.instance.pk:
            self.add_error("unlock_mission", "A mission cannot unlock itself.")
        return data


@admin.register(Mission)
class MissionAdmin(LabelScopedAdmin):
    add_perm = change_perm = Perm.CONFIG_CHANGE
    delete_perm = Perm.CONFIG_CHANGE  # drafts only, see has_delete_permission
    form = MissionForm
    scoped_foreign_keys = {
        **LabelScopedAdmin.scoped_foreign_keys,
        "unlock_level": Level,
        "unlock_mission": Mission,
        "reward_badge": Badge,
        "audience": Segment,
    }
    inlines = (MissionTaskInline,)
    list_display = ("name", "status_badge", "type", "is_featured", "task_count", "in_progress", "completed", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), ("status", ChoicesDropdownFilter), ("type", ChoicesDropdownFilter))
    search_fields = ("name",)
    formfield_overrides = {
        models.URLField: {"assume_scheme": "https"},
        # Texts per language, custom data, lists of days: short JSON, so short boxes that grow when typed in.
        models.JSONField: {"widget": UnfoldAdminExpandableTextareaWidget(attrs={"rows": 2})},
        models.DurationField: {"form_class": DurationWordsField, "widget": DurationWordsWidget},
    }
    actions_detail = ["activate", "archive"]
    fieldsets = (
        (None, {"fields": ("label", "name", "names", "descriptions", "image_url", "custom", "position",
                           "is_featured")}),
        ("Status", {"fields": ("status_badge", "activated_at", "archived_at")}),
        ("Type and unlock", {"fields": ("type", "unlock_level", "unlock_mission", "unlock_event_type",
                                         "unlock_event_conditions")}),
        ("Schedule", {"fields": ("active_from", "active_till", "recurrence", "recurrence_weekdays",
                                 "recurrence_month_days", "max_completions")}),
        ("Opt-in and claim", {"fields": ("audience", "requires_opt_in", "time_limit", "claim_required")}),
        ("Rewards", {"fields": ("reward_points", "reward_gems", "reward_diamonds", "reward_badge")}),
        ("Preview: as a player sees it", {"fields": ("preview",)}),
    )  # fmt: skip

    def get_queryset(self, request):
        # Correlated counts, evaluated for the page's rows only (a GROUP BY would count every run of every mission).
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_tasks=_count(MissionTask.objects.filter(mission_id=OuterRef("pk"))),
                # Runs open with a row in progress, and those open without one (`MissionProgress`).
                n_in_progress=_count(_runs().filter(state="in_progress")) + _open_without_rows(),
                n_completed=_count(_runs().filter(state__in=DONE_STATES)),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        fixed = ["status_badge", "activated_at", "archived_at", "preview"]
        if _editable(obj):
            return fixed
        every = [f for _, options in self.fieldsets for f in options["fields"]]
        return [*fixed, *(f for f in every if f not in ALWAYS_EDITABLE and f not in fixed)]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        mission = self.get_object(request, object_id) if request.method == "GET" else None
        if mission is not None and mission.status != MissionStatus.ARCHIVED:
            _config_warn(request, mission)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Runs, rewards and facts refer to a mission once active: it is archived, never deleted.
        return _editable(obj) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        missions_cache_clear(obj.label_id)

    # --- list columns ---------------------------------------------------------------------------------------------
    @display(description="Status", ordering="status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), STATUS_VARIANTS[obj.status])

    @display(description="Tasks", ordering="n_tasks")
    def task_count(self, obj) -> int:
        return obj.n_tasks

    @display(description="In progress", ordering="n_in_progress")
    def in_progress(self, obj) -> int:
        return obj.n_in_progress

    @display(description="Completed", ordering="n_completed")
    def completed(self, obj) -> int:
        return obj.n_completed

    # --- preview --------------------------------------------------------------------------------------------------
    @display(description="Preview")
    def preview(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "Save the mission to see its preview."
        tasks = format_html_join(
            "", "<li>{} — {}{}</li>", ((t.name, _task_words(t), _window(t)) for t in obj.tasks.all())
        )
        return format_html(
            '<div class="text-sm"><p><strong>{}</strong> · {}</p><ul class="list-disc ml-5">{}</ul>'
            "<p>Rewards: {}</p><p>{}</p></div>",
            obj.names.get("EN") or obj.name,
            _summary(obj),
            tasks or format_html("<li>{}</li>", "No tasks yet."),
            _rewards(obj),
            _terms(obj),
        )

    # --- transitions ----------------------------------------------------------------------------------------------
    def get_actions_detail(self, request, object_id):
        mission = self.get_object(request, object_id) if object_id else None
        wanted = NEXT_ACTION.get(getattr(mission, "status", None))
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        return [a for a in super().get_actions_detail(request, object_id) if a.action_name == f"{prefix}{wanted}"]

    def has_transition_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.actor(request).can_anywhere(Perm.CONFIG_CHANGE)
        mission = self.get_object(request, object_id)
        if mission is None:  # another label's id answers as a missing one
            raise Http404("No mission with this id.")
        return self.actor(request).can(Perm.CONFIG_CHANGE, mission.label_id)

    @action(description="Activate", url_path="activate", permissions=["transition"], icon="play_arrow")
    def activate(self, request, object_id):
        return self._transition(
            request, object_id, MissionStatus.ACTIVE, "Activate",
            "Players start progressing at once. Its tasks and rewards can no longer be changed; it can only be "
            "archived afterwards.",
        )  # fmt: skip

    @action(description="Archive", url_path="archive", permissions=["transition"], icon="archive")
    def archive(self, request, object_id):
        return self._transition(
            request, object_id, MissionStatus.ARCHIVED, "Archive",
            "Players stop progressing and no longer see it. This cannot be undone.",
        )  # fmt: skip

    def _transition(self, request, object_id, to: str, verb: str, text: str):
        mission = self.get_object(request, object_id)
        if mission is None:
            raise PermissionDenied
        if not self.actor(request).can(Perm.CONFIG_CHANGE, mission.label_id):
            raise PermissionDenied

        def perform() -> None:
            try:
                mission_transition(mission=mission, to=to, by=request.user)
            except DomainError as exc:
                details = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.errors.items())
                messages.error(request, f"{exc.message} {details}".strip())
                return
            self.log_change(request, mission, f"Status: {to}.")
            messages.success(request, f"{mission} is {to}.")

        if mission.status != {"active": "draft", "archived": "active"}[to]:
            messages.error(request, f"A {mission.status} mission cannot become {to}.")
            return HttpResponseRedirect(object_url(self, mission))
        return confirmed_action(
            self, request, mission, title=f"{verb} {mission}", text=text, button=verb, perform=perform
        )


def _config_warn(request, mission: Mission) -> None:
    """Say what a stored mission has that the checks made when saving now refuse (saved before them, or its event
    type changed since): a draft is fixed before activation, an active one is replaced."""
    errors = mission_config_errors(mission=mission)
    if not errors:
        return
    details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    if mission.status == MissionStatus.DRAFT:
        messages.warning(request, f"Fix before activating: {details}")
    else:
        messages.warning(
            request,
            f"This mission does not fit the event catalogue: {details} Players can never complete it as it stands: "
            "archive it and build a corrected one.",
        )


def _runs():
    return PlayerMission.objects.filter(mission_id=OuterRef("pk"))


class _SubquerySum(Subquery):
    template = "(SELECT coalesce(sum(delta), 0) FROM (%(subquery)s) _summed)"
    output_field = IntegerField()


def _open_without_rows():
    return _SubquerySum(MissionOpenDelta.objects.filter(mission_id=OuterRef("pk")).order_by().values("delta"))


class _SubqueryCount(Subquery):
    template = "(SELECT count(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


def _count(queryset):
    return _SubqueryCount(queryset.order_by().values("pk"))


def _summary(mission: Mission) -> str:
    parts = [mission.get_type_display()]
    if mission.type == MissionType.LOCKED:
        ways = []
        if mission.unlock_level_id:
            ways.append(f"reaching level {mission.unlock_level}")
        if mission.unlock_mission_id:
            ways.append(f"completing “{mission.unlock_mission}”")
        if mission.unlock_event_type:
            where = conditions_describe(mission.unlock_event_conditions)
            ways.append(f"a {mission.unlock_event_type} event where {where}")
        parts.append("unlocked by " + " or ".join(ways) if ways else "no unlock set")
    if mission.type == MissionType.RECURRING:
        if mission.recurrence == Recurrence.WEEKDAYS:
            parts.append("on " + ", ".join(WEEKDAYS[d] for d in sorted(mission.recurrence_weekdays)))
        elif mission.recurrence == Recurrence.DAYS_OF_MONTH:
            parts.append("on days " + ", ".join(map(str, sorted(mission.recurrence_month_days))))
        else:
            parts.append("every day")
    if mission.type == MissionType.RECURRING_ON_COMPLETION:
        parts.append(f"up to {mission.max_completions} times" if mission.max_completions else "no limit")
    if mission.is_featured:
        parts.append("featured")
    return ", ".join(parts)


def _task_words(task: MissionTask) -> str:
    """A task as the player reads it: "3 casino bets where game category is slots", "a total deposit amount of 100
    over your deposits"."""
    target = f"{task.target.normalize():f}"
    if task.aggregation == "sum":
        events = events_words(task.event_type, task.conditions)
        return f"a total {name_words(task.sum_field)} of {target} over your {events}"
    return f"{target} {events_words(task.event_type, task.conditions, plural=task.target != 1)}"


def _window(task: MissionTask) -> str:
    return f", within {duration_words(task.window)}" if task.window else ""


def _rewards(mission: Mission) -> str:
    amounts = {c: getattr(mission, f"reward_{c}") for c in REWARD_CURRENCIES}
    given = [f"{amount:,} {currency}" for currency, amount in amounts.items() if amount]
    if mission.reward_badge_id:
        given.append(f"badge “{mission.reward_badge}”")
    text = ", ".join(given) or "none"
    return f"{text} ({'claimed by the player' if mission.claim_required else 'given on completion'})"


def _terms(mission: Mission) -> str:
    terms = []
    if mission.requires_opt_in:
        limit = f" and has {duration_words(mission.time_limit)} to finish." if mission.time_limit else "."
        terms.append(f"The player opts in first{limit}")
    if mission.active_from or mission.active_till:
        terms.append(f"Open {mission.active_from or 'from activation'} to {mission.active_till or 'archiving'}.")
    return " ".join(terms)
