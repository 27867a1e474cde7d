"""Automation rules in the admin: the list (status, trigger, fired, last fired), the rule's page (trigger, conditions,
audience and activities in the builder, limits), its stats with a chart, "estimate audience", a backtest with
a progress bar and its results, and Activate / Pause / Archive as guarded actions.

Admins and managers edit (`Perm.CONFIG_CHANGE`); support and integration engineers read. Status changes only through
`rule_transition`, which checks an activated rule as a whole.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Max, OuterRef, Subquery, Sum
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse, reverse_lazy
from django.utils import timezone
from django.utils.html import format_html
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.decorators import action, display

from backoffice.admin.base import LabelScopedAdmin
from backoffice.admin.filters import ScopedRelatedFilter
from backoffice.admin.helpers import badge, confirmed_action, object_url
from backoffice.errors import DomainError
from backoffice.models import Perm
from crm.admin.builder import ActivitiesField, ConditionTreeField, EventConditionsField, builder_label
from crm.automation.selectors import rule_stats
from crm.models.rules import BacktestRun, Rule, RuleKind, RuleStat, RuleStatus
from crm.models.segments import Segment
from crm.services.rules import (
    TRANSITIONS,
    backtest_start,
    rule_audience_estimate,
    rule_errors,
    rule_next_runs,
    rule_transition,
)

STATUS_VARIANTS = {RuleStatus.DRAFT: "", RuleStatus.ACTIVE: "success", RuleStatus.PAUSED: "warning",
                   RuleStatus.ARCHIVED: "danger"}  # fmt: skip
ACTIONS = {"activate": RuleStatus.ACTIVE, "pause": RuleStatus.PAUSED, "archive": RuleStatus.ARCHIVED}
JSON_BOX = forms.Textarea(attrs={"rows": 4, "class": "font-mono w-full", "spellcheck": "false"})
CHART_COLOURS = {"fired": "var(--color-primary-600)", "applied": "var(--color-green-500)",
                 "skipped": "var(--color-orange-500)", "failed": "var(--color-red-500)"}  # fmt: skip
CHART_OPTIONS = json.dumps(
    {
        "animation": False,
        "responsive": True,
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True}, "tooltip": {"enabled": True}},
        "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}, "x": {"grid": {"display": False}}},
    }
)


class RuleForm(forms.ModelForm):
    """The rule's fields, checked as a whole by `rule_errors` (a draft may still lack activities). The trigger's
    conditions and the audience tree are edited with the condition builder, the activities row by row
    (crm/admin/builder)."""

    conditions = EventConditionsField(
        type_field="trigger_type",
        label="Conditions",
        help_text="Real-time: conditions on the trigger event's fields; every one must hold.",
    )
    segment_conditions = ConditionTreeField(
        audience_url=reverse_lazy("admin:crm_segment_audience"),
        initial=dict,
        label="Audience conditions",
        help_text="Optional: players matching these conditions (no condition: every player).",
    )
    activities = ActivitiesField(
        label="Activities",
        help_text="What the rule does for each player it fires for, in this order (at most 10).",
    )

    class Meta:
        model = Rule
        fields = (
            *("label", "name", "description", "kind", "trigger_type", "conditions", "schedule"),
            *("segment", "segment_conditions", "activities", "priority", "once_in_lifetime", "cap_count", "cap_period"),
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            builder_label(self, self.instance.label_id)

    def clean(self):
        data = super().clean()
        if self.errors or data.get("label") is None:
            return data
        rule = self.instance
        for name in self.Meta.fields:
            if name in data:
                setattr(rule, name, data[name])
        rule.conditions = rule.conditions if rule.conditions is not None else []
        rule.segment_conditions = rule.segment_conditions or {}
        rule.activities = rule.activities if rule.activities is not None else []
        errors = rule_errors(rule=rule)
        if rule.status == RuleStatus.DRAFT and not rule.activities:
            errors.pop("activities", None)  # a draft is built step by step
        for key, messages_ in errors.items():
            field = key.split("[", 1)[0].split(".", 1)[0]
            field = field if field in self.fields else None
            where = _activity_words(key) if field == "activities" else key
            self.add_error(field, [f"{where}: {m}" if field and key != field else m for m in messages_])
        return data


def _activity_words(key: str) -> str:
    """`activities[1].amount` as staff read it: "Activity 2, amount" (the activities editor places it on row 2)."""
    found = re.fullmatch(r"activities\[(\d+)\](?:\.(\w+))?", key)
    if found is None:
        return key
    number, part = int(found.group(1)) + 1, found.group(2)
    return f"Activity {number}, {part.replace('_', ' ')}" if part else f"Activity {number}"


def _stat_total(column: str):
    return Subquery(
        RuleStat.objects.filter(rule_id=OuterRef("pk"))
        .values("rule_id")
        .annotate(total=Sum(column) if column != "last_fired_at" else Max(column))
        .values("total")[:1]
    )


@admin.register(Rule)
class RuleAdmin(LabelScopedAdmin):
    add_perm = change_perm = delete_perm = Perm.CONFIG_CHANGE
    form = RuleForm
    scoped_foreign_keys = {**LabelScopedAdmin.scoped_foreign_keys, "segment": Segment}
    list_display = ("name", "status_badge", "kind", "trigger", "fired", "applied", "failed", "last_fired", "label")
    list_select_related = ("label",)
    list_filter = (("label", ScopedRelatedFilter), ("status", ChoicesDropdownFilter), ("kind", ChoicesDropdownFilter))
    search_fields = ("name", "trigger_type")
    actions_detail = ["activate", "pause", "archive"]
    change_form_outer_after_template = "admin/crm/rule/panels.html"
    formfield_overrides = {models.JSONField: {"widget": JSON_BOX}}
    fieldsets = (
        (None, {"fields": ("label", "name", "description", "status_badge", "activated_at")}),
        ("Trigger", {"fields": ("kind", "trigger_type", "conditions", "schedule", "next_runs"),
                     "description": "Real-time: an event type and conditions on its fields. Scheduled: a cron-like "
                                    "schedule (minute hour day month weekday) in the label's time zone."}),
        ("Audience", {"fields": ("segment", "segment_conditions"),
                      "description": "Optional: a condition tree over the player's state (empty: every player). "
                                     "Players whose account is not ACTIVE are skipped when the label says so."}),
        ("Activities", {"fields": ("activities",),
                        "description": "Applied in order to each player the rule fires for: points, gems or "
                                       "diamonds (fixed, computed, or accumulated), markers, missions, badges, "
                                       "bonuses and webhooks. See docs/rules.md for each."}),
        ("Limits", {"fields": ("priority", "once_in_lifetime", "cap_count", "cap_period")}),
        ("Webhooks", {"fields": ("secret_hint",)}),
    )  # fmt: skip
    readonly_fields = ("status_badge", "activated_at", "next_runs", "secret_hint")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_fired=_stat_total("fired"),
                n_applied=_stat_total("applied"),
                n_failed=_stat_total("failed"),
                n_last=_stat_total("last_fired_at"),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        fixed = list(self.readonly_fields)
        if obj is not None and obj.status == RuleStatus.ARCHIVED:
            every = [f for _, options in self.fieldsets for f in options["fields"]]
            return [*fixed, *(f for f in every if f not in fixed)]
        return fixed

    def has_delete_permission(self, request, obj=None) -> bool:
        # Effects and ledger entries refer to a rule once it fired: archive it instead.
        if obj is not None and obj.effects.exists():
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change) -> None:
        from crm.services.rules import rule_save

        rule_save(rule=obj, by=request.user)

    # --- list columns ---------------------------------------------------------------------------------------------
    @display(description="Status", ordering="status")
    def status_badge(self, obj) -> str:
        return badge(obj.get_status_display(), STATUS_VARIANTS[obj.status])

    @display(description="Trigger")
    def trigger(self, obj) -> str:
        return obj.trigger_type if obj.kind == RuleKind.REALTIME else f"⏱ {obj.schedule}"

    @display(description="Fired", ordering="n_fired")
    def fired(self, obj) -> int:
        return getattr(obj, "n_fired", None) or 0

    @display(description="Applied", ordering="n_applied")
    def applied(self, obj) -> int:
        return getattr(obj, "n_applied", None) or 0

    @display(description="Failures", ordering="n_failed")
    def failed(self, obj) -> int:
        return getattr(obj, "n_failed", None) or 0

    @display(description="Last fired", ordering="n_last")
    def last_fired(self, obj) -> str:
        last = getattr(obj, "n_last", None)
        return timezone.localtime(last).strftime("%Y-%m-%d %H:%M") if last else "-"

    @display(description="Next runs")
    def next_runs(self, obj) -> str:
        if obj is None or obj.pk is None or obj.kind != RuleKind.SCHEDULED:
            return "-"
        runs = rule_next_runs(rule=obj, count=5)
        if not runs:
            return "The schedule is not valid."
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(obj.label.time_zone)
        return ", ".join(r.astimezone(tz).strftime("%a %Y-%m-%d %H:%M") for r in runs) + f" ({obj.label.time_zone})"

    @display(description="Signature")
    def secret_hint(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "A secret is made when the rule is saved."
        return format_html(
            "Webhooks carry <code>X-Pitboss-Signature: sha256=&lt;HMAC-SHA256 of the body&gt;</code>; the secret "
            "ends in <code>…{}</code> (ask an admin for it).",
            obj.webhook_secret[-4:],
        )

    # --- the page's panels: stats, estimate, backtest ---------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        rule = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if rule is not None:
            extra_context |= self._panels(request, rule)
        return super().change_view(request, object_id, form_url, extra_context)

    def _panels(self, request, rule: Rule) -> dict:
        days = rule_stats(rule=rule, days=14)
        chart = {
            "labels": [d["period"][5:] for d in days],
            "datasets": [
                {"label": name.capitalize(), "data": [d[name] for d in days], "borderColor": colour,
                 "backgroundColor": colour, "pointRadius": 0, "fill": False}
                for name, colour in CHART_COLOURS.items()
            ],
        }  # fmt: skip
        backtest = BacktestRun.objects.filter(rule=rule).order_by("-id").first()
        base = f"admin:{self.opts.app_label}_{self.opts.model_name}"
        return {
            "rule_panels": True,
            "rule_chart": json.dumps(chart),
            "rule_chart_options": CHART_OPTIONS,
            "rule_totals": {k: sum(d[k] for d in days) for k in CHART_COLOURS},
            "rule_backtest": backtest,
            "rule_backtest_days": backtest.result.get("days", []) if backtest and backtest.status == "done" else [],
            "rule_can_change": self.actor(request).can(Perm.CONFIG_CHANGE, rule.label_id),
            "rule_estimate_url": reverse(f"{base}_estimate", args=[rule.pk]),
            "rule_backtest_url": reverse(f"{base}_backtest", args=[rule.pk]),
            "rule_backtest_status_url": reverse(f"{base}_backtest_status", args=[rule.pk, backtest.pk])
            if backtest
            else "",
        }

    def get_urls(self):
        base = f"{self.opts.app_label}_{self.opts.model_name}"
        extra = [
            path("<path:object_id>/estimate/", self.admin_site.admin_view(self.estimate_view), name=f"{base}_estimate"),
            path("<path:object_id>/backtest/", self.admin_site.admin_view(self.backtest_view), name=f"{base}_backtest"),
            path(
                "<path:object_id>/backtest/<int:backtest_id>/",
                self.admin_site.admin_view(self.backtest_status_view),
                name=f"{base}_backtest_status",
            ),
        ]
        return [*extra, *super().get_urls()]

    def _rule(self, request, object_id, perm: str = Perm.VIEW) -> Rule:
        if not self.actor(request).can_anywhere(Perm.VIEW):
            raise PermissionDenied
        rule = self.get_object(request, object_id)
        if rule is None:  # another label's id answers as a missing one
            raise Http404("No rule with this id.")
        if not self.actor(request).can(perm, rule.label_id):
            raise PermissionDenied
        return rule

    def estimate_view(self, request, object_id):
        """JSON: the audience now and the share of the last 7 days' trigger events that match the conditions."""
        rule = self._rule(request, object_id)
        return JsonResponse(rule_audience_estimate(rule=rule))

    def backtest_view(self, request, object_id):
        """POST: start a backtest over the last `days` days; back to the rule's page, where its progress shows."""
        rule = self._rule(request, object_id, Perm.CONFIG_CHANGE)
        if request.method != "POST":
            return HttpResponseRedirect(object_url(self, rule) + "#backtest")
        try:
            days = int(request.POST.get("days", "7"))
        except ValueError:
            days = 0
        try:
            backtest_start(rule=rule, days=days, by=request.user)
        except DomainError as exc:
            details = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.errors.items())
            messages.error(request, f"The backtest cannot run: {details or exc.message}")
        else:
            messages.success(request, f"Backtest of the last {days} days started.")
        return HttpResponseRedirect(object_url(self, rule) + "#backtest")

    def backtest_status_view(self, request, object_id, backtest_id: int):
        """JSON: a backtest's status, progress and (when done) result; polled by the page."""
        rule = self._rule(request, object_id)
        backtest = BacktestRun.objects.filter(pk=backtest_id, rule=rule).first()
        if backtest is None:
            raise Http404("No backtest with this id.")
        return JsonResponse(
            {
                "status": backtest.status,
                "progress": backtest.progress,
                "error": backtest.error,
                "result": backtest.result if backtest.status == "done" else None,
            }
        )

    # --- transitions ----------------------------------------------------------------------------------------------
    def get_actions_detail(self, request, object_id):
        rule = self.get_object(request, object_id) if object_id else None
        allowed = TRANSITIONS.get(getattr(rule, "status", None), set())
        prefix = f"{self.opts.app_label}_{self.opts.model_name}_"
        wanted = {f"{prefix}{name}" for name, to in ACTIONS.items() if to in allowed}
        return [a for a in super().get_actions_detail(request, object_id) if a.action_name in wanted]

    def has_transition_permission(self, request, object_id=None) -> bool:
        if object_id is None:
            return self.actor(request).can_anywhere(Perm.CONFIG_CHANGE)
        rule = self.get_object(request, object_id)
        if rule is None:
            raise Http404("No rule with this id.")
        return self.actor(request).can(Perm.CONFIG_CHANGE, rule.label_id)

    @action(description="Activate", url_path="activate", permissions=["transition"], icon="play_arrow")
    def activate(self, request, object_id):
        return self._transition(request, object_id, "activate", "The rule fires from its next batch of events.")

    @action(description="Pause", url_path="pause", permissions=["transition"], icon="pause")
    def pause(self, request, object_id):
        return self._transition(request, object_id, "pause", "The rule stops firing until it is activated again.")

    @action(description="Archive", url_path="archive", permissions=["transition"], icon="archive")
    def archive(self, request, object_id):
        return self._transition(request, object_id, "archive", "The rule stops for good. This cannot be undone.")

    def _transition(self, request, object_id, verb: str, text: str):
        rule = self._rule(request, object_id, Perm.CONFIG_CHANGE)
        to = ACTIONS[verb]

        def perform() -> None:
            try:
                rule_transition(rule=rule, to=to, by=request.user)
            except DomainError as exc:
                details = "; ".join(f"{field}: {' '.join(errs)}" for field, errs in exc.errors.items())
                messages.error(request, f"{exc.message} {details}".strip())
                return
            self.log_change(request, rule, f"Status: {to}.")
            messages.success(request, f"{rule} is {to}.")

        if to not in TRANSITIONS.get(rule.status, set()):
            messages.error(request, f"A {rule.status} rule cannot become {to}.")
            return HttpResponseRedirect(object_url(self, rule))
        title = f"{verb.capitalize()} {rule}"
        return confirmed_action(self, request, rule, title=title, text=text, button=verb.capitalize(), perform=perform)
