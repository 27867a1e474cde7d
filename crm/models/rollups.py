"""Behavioural roll-ups: per player and day, the count, sum, min and max of the events of one type whose fields match
conditions. Kept by the `crm` pipeline group as events are applied (`crm.handlers_rollups`), backfilled from the log
when a spec is created (`crm.services.rollups`), read by the `behaviour` leaf of segments (`crm.conditions.behaviour`),
so no segment query ever scans raw events. docs/rollups.md explains the choices.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class RollupStatus(models.TextChoices):
    BUILDING = "building", "Building (backfilling the last 365 days)"
    READY = "ready", "Ready"


class RollupSpec(models.Model):
    """What one roll-up counts: events of `event_type` whose payload matches `where`, measuring `field` (or only
    counting). One spec per (label, digest): every segment asking the same question shares it."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.CASCADE, related_name="+")
    event_type = models.CharField(max_length=64, help_text="The event type counted (core, system or custom).")
    where = models.JSONField(
        default=list,
        blank=True,
        help_text="The event conditions (gamification.conditions format), normalized: sorted, texts case-folded.",
    )
    field = models.CharField(
        max_length=64, blank=True, help_text="The payload field summed and compared (min, max); empty to only count."
    )
    time_zone = models.CharField(
        max_length=64, help_text="The label's time zone when the spec was created: the roll-ups' days are its days."
    )
    base_currency = models.CharField(
        max_length=3, help_text="The label's base currency when the spec was created: money fields are summed in it."
    )
    digest = models.CharField(max_length=64, help_text="sha256 of the normalized question: one spec per question.")
    status = models.CharField(
        max_length=16,
        choices=RollupStatus.choices,
        default=RollupStatus.BUILDING,
        help_text="Building while the backfill runs; the live handler counts new events from the start.",
    )
    backfill_from = models.DateField(help_text="The first day backfilled (365 days before creation).")
    backfill_days = models.IntegerField(default=0, help_text="Days of the log the backfill has to read.")
    backfill_done = models.IntegerField(default=0, help_text="Days of the log the backfill has read and counted.")
    backfill_events = models.BigIntegerField(default=0, help_text="Events counted by the backfill so far.")
    boundary = models.JSONField(
        default=dict,
        blank=True,
        editable=False,
        help_text=(
            "The crm group's position when the spec was created, per partition (its ticks' snapshots and keyset), "
            "and its failed events then: the backfill counts exactly what the group had applied, the live handler "
            "everything after."
        ),
    )
    backfill_seen_at = models.DateTimeField(
        null=True, blank=True, help_text="When the backfill last counted a page (a stalled one is queued again)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    ready_at = models.DateTimeField(null=True, blank=True, help_text="When the backfill finished.")

    class Meta:
        verbose_name = "roll-up spec"
        constraints = [models.UniqueConstraint(fields=["label", "digest"], name="rollupspec_label_digest")]

    def __str__(self) -> str:
        measured = f"sum/min/max of {self.field}" if self.field else "count"
        return f"{measured} of {self.event_type} ({len(self.where)} conditions)"

    @property
    def progress(self) -> float:
        """The backfill's progress, 0..1 (1 once ready)."""
        if self.status == RollupStatus.READY or not self.backfill_days:
            return 1.0 if self.status == RollupStatus.READY else 0.0
        return min(1.0, self.backfill_done / self.backfill_days)


class Rollup(models.Model):
    """One player's matching events of one spec on one day (the spec's time zone). No row: nothing that day.

    Primary key (spec, player, day): one player's windows are one index range. Index (spec, day) including the
    measures: all players over a window are one index-only range, grouped by player.
    """

    pk = models.CompositePrimaryKey("spec_id", "player_id", "day")
    # No index of their own: the primary key starts with the spec; a player's rows are deleted only with the player.
    spec = models.ForeignKey(RollupSpec, on_delete=models.CASCADE, related_name="rollups", db_index=False)
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(help_text="The day of the events, in the spec's time zone.")
    count = models.IntegerField(help_text="Matching events (with a numeric value of the field, when it has one).")
    sum = models.DecimalField(
        max_digits=36, decimal_places=8, default=0, help_text="Sum of the field; money in the base currency."
    )
    min = models.DecimalField(max_digits=36, decimal_places=8, null=True, blank=True, help_text="Smallest value.")
    max = models.DecimalField(max_digits=36, decimal_places=8, null=True, blank=True, help_text="Largest value.")

    class Meta:
        verbose_name = "roll-up"
        indexes = [
            models.Index(
                fields=["spec", "day"], include=["player", "count", "sum", "min", "max"], name="rollup_spec_day"
            ),
        ]

    def __str__(self) -> str:
        return f"spec {self.spec_id} player {self.player_id} {self.day}: {self.count}"


class RollupSeries(models.Model):
    """One player's running totals of one spec: the days with a roll-up row (ascending) and, for each, the count and
    the sum of the spec's events from the first day up to and including that day. A window's count or sum is then
    two binary searches in one row (`width_bucket`): total up to its last day minus total up to the day before its
    first, whatever the window's length. Kept beside the daily rows by the same statement batch (the `crm` group's
    handler and the backfill, crm.handlers_rollups), and a pure function of them (`rollup_series_rebuild`).
    docs/rollups.md §6.
    """

    pk = models.CompositePrimaryKey("spec_id", "player_id")
    spec = models.ForeignKey(RollupSpec, on_delete=models.CASCADE, related_name="+", db_index=False)
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+", db_index=False)
    days = ArrayField(models.DateField(), help_text="The days with a roll-up row, ascending (the spec's time zone).")
    counts = ArrayField(models.BigIntegerField(), help_text="Running count: events from the first day to each day.")
    sums = ArrayField(
        models.DecimalField(max_digits=38, decimal_places=8),
        null=True,
        blank=True,
        help_text="Running sum of the field to each day; empty for a spec that only counts.",
    )

    class Meta:
        verbose_name = "roll-up series"
        verbose_name_plural = "roll-up series"

    def __str__(self) -> str:
        return f"spec {self.spec_id} player {self.player_id}: {len(self.days)} days"
