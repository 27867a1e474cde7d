"""Automation rules: "when this happens (or on this schedule), to these players, do these activities".

A real-time rule fires on events of its trigger type whose payload matches its conditions, for players in its
audience (an optional segment and an optional condition tree); a scheduled rule fires on a cron-like schedule, in the
label's time zone, for every player of its audience. Each firing is one `RuleEffect`, unique per (rule, event) or per
(rule, player, scheduled run), so a replay never applies anything twice. See docs/rules.md.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel


class RuleStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    ARCHIVED = "archived", "Archived"


class RuleKind(models.TextChoices):
    REALTIME = "realtime", "Real-time (on an event)"
    SCHEDULED = "scheduled", "Scheduled (on a schedule)"


class CapPeriod(models.TextChoices):
    HOUR = "hour", "Per hour"
    DAY = "day", "Per day"
    WEEK = "week", "Per week"
    MONTH = "month", "Per month"
    EVER = "ever", "Ever"


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Rule(LabelScopedModel):
    """One automation rule of a label. Only an active rule fires; a draft can be backtested."""

    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    description = models.TextField(blank=True, help_text="What the rule is for, for the team.")
    status = models.CharField(
        max_length=10, choices=RuleStatus.choices, default=RuleStatus.DRAFT, help_text="Only an active rule fires."
    )
    kind = models.CharField(
        max_length=10, choices=RuleKind.choices, default=RuleKind.REALTIME, help_text="On an event, or on a schedule."
    )
    trigger_type = models.CharField(
        max_length=64, blank=True, help_text="Real-time: the event type that fires the rule, e.g. deposit."
    )
    conditions = models.JSONField(
        default=list,
        blank=True,
        help_text='Real-time: conditions on the event\'s fields, all must hold, e.g. [{"field": "deposit_amount", '
        '"op": "gte", "value": 100}].',
    )
    segment = models.ForeignKey(
        "crm.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rules",
        help_text="Optional: only players in this segment (checked when the rule fires).",
    )
    segment_conditions = models.JSONField(
        default=dict,
        blank=True,
        help_text="Optional audience as a condition tree over the player's state (empty: every player).",
    )
    schedule = models.CharField(
        max_length=120,
        blank=True,
        help_text='Scheduled: minute hour day-of-month month day-of-week, in the label\'s time zone, e.g. "0 9 * * 1".',
    )
    activities = models.JSONField(default=list, blank=True, help_text="What the rule does, in order (see docs).")
    priority = models.IntegerField(default=100, help_text="Lower runs first when several rules fire on one event.")
    once_in_lifetime = models.BooleanField(default=False, help_text="Fire at most once per player, ever.")
    cap_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Frequency cap: at most this many effects per player per period."
    )
    cap_period = models.CharField(
        max_length=8, choices=CapPeriod.choices, blank=True, help_text="The period of the frequency cap."
    )
    webhook_secret = models.CharField(
        max_length=64, default=new_webhook_secret, help_text="Key of the HMAC-SHA256 signature of the rule's webhooks."
    )
    activated_at = models.DateTimeField(null=True, blank=True, help_text="When the rule was last activated.")
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Who created it."
    )

    class Meta:
        verbose_name = "automation rule"
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "name"], name="rule_unique_name"),
            models.CheckConstraint(condition=Q(cap_count__isnull=True) | ~Q(cap_period=""), name="rule_cap_has_period"),
        ]
        indexes = [models.Index(fields=["label", "status", "kind"], name="rule_label_status")]

    def __str__(self) -> str:
        return self.name


class EffectStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class RuleRun(models.Model):
    """One scheduled run of a scheduled rule: its players are worked through in chunks, by id; `after_player_id`
    is how far it got, so a killed run resumes where it stopped."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    scheduled_for = models.DateTimeField(help_text="The schedule's time this run is for (UTC).")
    status = models.CharField(max_length=8, default="running", help_text="running or done.")
    after_player_id = models.BigIntegerField(default=0, help_text="Players up to this id are done.")
    players = models.PositiveIntegerField(default=0, help_text="Players worked through so far.")
    started_at = models.DateTimeField(auto_now_add=True, help_text="When the run began.")
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When a chunk last committed.")
    finished_at = models.DateTimeField(null=True, blank=True, help_text="When the run finished.")

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [models.UniqueConstraint(fields=["rule", "scheduled_for"], name="rule_run_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} @ {self.scheduled_for:%Y-%m-%d %H:%M}"


class RuleEffect(models.Model):
    """One firing of a rule for one player: applied, skipped (with the reason) or failed, and each activity's result.

    Unique per (rule, event) for real-time rules and per (rule, player, run) for scheduled ones: it is claimed with
    INSERT ... ON CONFLICT DO NOTHING before anything is applied, so a replay finds it and does nothing."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="effects")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+", db_index=False)
    event_id = models.BigIntegerField(null=True, blank=True, help_text="The event that fired it (real-time).")
    run = models.ForeignKey(
        RuleRun, null=True, blank=True, on_delete=models.CASCADE, related_name="effects", help_text="Scheduled run."
    )
    status = models.CharField(max_length=8, choices=EffectStatus.choices, help_text="applied, skipped or failed.")
    reason = models.CharField(
        max_length=255, blank=True, help_text="Why it was skipped or failed: not_active, capped, control_group..."
    )
    results = models.JSONField(default=list, blank=True, help_text="Each activity's outcome, in order.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it fired.")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "event_id"], condition=Q(event_id__isnull=False), name="rule_effect_once_per_event"
            ),
            models.UniqueConstraint(
                fields=["rule", "player", "run"], condition=Q(run__isnull=False), name="rule_effect_once_per_run"
            ),
        ]
        indexes = [
            models.Index(fields=["rule", "-id"], name="rule_effect_rule"),
            models.Index(fields=["player", "-id"], name="rule_effect_player"),
        ]

    def __str__(self) -> str:
        return f"rule {self.rule_id} / player {self.player_id}: {self.status}"


class RuleCounter(models.Model):
    """How many effects a rule applied to a player in one period (`period`: "ever", "2026-01-05", "2026-W02",
    "2026-01", "2026-01-05T13", in the label's time zone). Raised by a conditional upsert: caps hold under
    concurrency."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+", db_index=False)
    period = models.CharField(max_length=16, help_text="The period's key.")
    count = models.PositiveIntegerField(default=0, help_text="Effects applied in the period.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "player", "period"], name="rule_counter_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.player_id}/{self.period}: {self.count}"


class Accumulator(models.Model):
    """The remainder an accumulation activity carries for a player in one wallet currency (e.g. 7.50 EUR wagered
    toward the next point at 1 point per 10), exact (Decimal)."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+", db_index=False)
    currency = models.CharField(max_length=3, blank=True, help_text="The player's wallet currency (ISO 4217).")
    activity = models.PositiveSmallIntegerField(default=0, help_text="Position of the activity in the rule.")
    remainder = models.DecimalField(max_digits=24, decimal_places=8, default=0, help_text="Carried amount.")
    updated_at = models.DateTimeField(auto_now=True, help_text="When it last changed.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "player", "currency", "activity"], name="accumulator_unique")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id}/{self.player_id}/{self.currency}: {self.remainder}"


class RuleStat(models.Model):
    """A rule's counts in one hour (UTC): fired (conditions and audience matched), applied, skipped, failed."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="stats")
    hour = models.DateTimeField(help_text="The hour (UTC).")
    fired = models.PositiveIntegerField(default=0, help_text="Times the rule matched.")
    applied = models.PositiveIntegerField(default=0, help_text="Effects applied.")
    skipped = models.PositiveIntegerField(default=0, help_text="Effects skipped (caps, account status...).")
    failed = models.PositiveIntegerField(default=0, help_text="Effects that failed.")
    last_fired_at = models.DateTimeField(null=True, help_text="When it last matched in the hour.")

    class Meta:
        ordering = ["-hour"]
        constraints = [models.UniqueConstraint(fields=["rule", "hour"], name="rule_stat_unique")]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.hour:%Y-%m-%d %H}h"


class WebhookStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_FLIGHT = "in_flight", "In flight"
    DONE = "done", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """A webhook to deliver (the outbox row): written with its effect, sent after commit by the `deliver` queue,
    claimed with a conditional UPDATE, retried with backoff; `key` is sent as the idempotency header."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="+")
    effect = models.ForeignKey(RuleEffect, on_delete=models.CASCADE, related_name="webhooks")
    key = models.CharField(max_length=255, unique=True, help_text="Unique per effect and activity.")
    url = models.URLField(max_length=500, help_text="Where the body is POSTed.")
    body = models.TextField(help_text="The JSON body, as sent.")
    status = models.CharField(max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Calls made.")
    next_attempt_at = models.DateTimeField(help_text="Not before this time.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker claimed it.")
    response_status = models.PositiveIntegerField(null=True, blank=True, help_text="HTTP status of the last call.")
    last_error = models.CharField(max_length=500, blank=True, help_text="The last call's error.")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=Q(status__in=["pending", "in_flight"]), name="webhook_due"
            )
        ]

    def __str__(self) -> str:
        return self.key


class BacktestRun(LabelScopedModel):
    """A replay of a (draft) rule over the last `days` of the label's events: writes nothing but this row."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="backtests")
    days = models.PositiveSmallIntegerField(default=7, help_text="How many days back (1-90).")
    status = models.CharField(max_length=8, default="pending", help_text="pending, running, done or failed.")
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    result = models.JSONField(default=dict, blank=True, help_text="Totals and per-day figures.")
    error = models.CharField(max_length=500, blank=True, help_text="Why it failed.")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
