"""The pipeline's bookkeeping beside the immutable event log: ticks, positions per consumer group, failures, stats.

The tables are created by SQL in `crm/migrations/0006_pipeline_consumer_groups.py` (they use PostgreSQL types
Django has no field for, `xid8` and `pg_snapshot`); these unmanaged models let the admin and the selectors read them.
Every write goes through `crm.pipeline`.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

PARTITIONS = 16  # fixed: `(player_id % 16)` is in the log index `crm_event_log`; changing it is a migration


class PipelineTick(models.Model):
    """A snapshot of which transactions had committed (`pg_current_snapshot()`), taken under a lock so that ticks
    nest. A group's batch is the events committed between two ticks."""

    id = models.BigIntegerField(primary_key=True)
    snap = models.TextField(help_text="pg_snapshot: xmin:xmax:xip,...")
    event_seq = models.BigIntegerField(help_text="The event id sequence at the tick (an estimate of the log's size).")
    created_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "pipeline_tick"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"tick {self.id}"


class PipelineCursor(models.Model):
    """The position of one consumer group in one partition of the log, and the lease of the worker holding it."""

    pk = models.CompositePrimaryKey("group_name", "part")
    group_name = models.TextField()
    part = models.SmallIntegerField()
    last_tick = models.ForeignKey(PipelineTick, on_delete=models.DO_NOTHING, related_name="+", db_column="last_tick")
    next_tick = models.ForeignKey(
        PipelineTick, on_delete=models.DO_NOTHING, related_name="+", db_column="next_tick", null=True
    )
    after_id = models.BigIntegerField(null=True)
    lease_owner = models.TextField(null=True)  # noqa: DJ001 - NULL is "no owner", set by SQL
    lease_until = models.DateTimeField(null=True)
    applied = models.BigIntegerField()
    failed = models.BigIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "pipeline_cursor"
        ordering = ["group_name", "part"]

    def __str__(self) -> str:
        return f"{self.group_name}/{self.part}"


class PipelineFailure(models.Model):
    """An event one group's handlers failed on. The group went on; the event is retried with backoff, then parked
    until staff retry it. Resolved when a retry applies it (once)."""

    id = models.BigAutoField(primary_key=True)
    group_name = models.TextField()
    event = models.ForeignKey("crm.Event", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    part = models.SmallIntegerField()
    label = models.ForeignKey("backoffice.Label", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    handler = models.TextField(help_text="The handler that raised.")
    error = models.TextField()
    attempts = models.IntegerField()
    failed_at = models.DateTimeField(help_text="Last failure.")
    retry_after = models.DateTimeField(null=True, help_text="Next automatic retry; empty once parked.")
    resolved_at = models.DateTimeField(null=True, help_text="When a retry applied it.")

    class Meta:
        managed = False
        db_table = "pipeline_failure"
        ordering = ["-failed_at"]

    def __str__(self) -> str:
        return f"{self.group_name}: event {self.event_id}"


class PipelineStat(models.Model):
    """Per group, label and minute: events applied and failed, and how long they took from acceptance to applied
    (a histogram over `crm.pipeline.LATENCY_BOUNDS_MS`)."""

    pk = models.CompositePrimaryKey("group_name", "label_id", "minute")
    group_name = models.TextField()
    label = models.ForeignKey("backoffice.Label", on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    minute = models.DateTimeField()
    applied = models.BigIntegerField()
    failed = models.BigIntegerField()
    latency_ms = ArrayField(models.IntegerField(), help_text="Counts per latency bucket.")

    class Meta:
        managed = False
        db_table = "pipeline_stat"
        ordering = ["-minute"]

    def __str__(self) -> str:
        return f"{self.group_name} {self.label_id} {self.minute:%Y-%m-%d %H:%M}"
