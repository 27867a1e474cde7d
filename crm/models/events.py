"""Events: immutable facts about players, deduplicated by the source's id, and custom event types."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet


class EventSource(models.TextChoices):
    API = "api", "REST API"
    REPLICA = "replica", "Replica DB"
    STREAM = "stream", "Stream"
    FRONTEND = "frontend", "Front end"
    PIXEL = "pixel", "Pixel"
    SYSTEM = "system", "System"


class Event(models.Model):
    """A fact about a player. Unique by (label, type, event_id): the source's id, a transaction's or a bet's id.

    An event with `processed_at` NULL is waiting for the handlers: that partial index is the outbox. The row is stored
    and marked for processing in one statement, so nothing accepted can be forgotten; a handler run sets
    `processed_at` in the transaction that writes its effects, so nothing is processed twice.
    """

    id = models.BigAutoField(primary_key=True)
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=128, help_text="The source's unique id of the event.")
    type = models.CharField(max_length=64, help_text="Core type (deposit, casino_bet...) or a custom type's name.")
    occurred_at = models.DateTimeField(help_text="When it happened at the source (UTC, millisecond precision).")
    received_at = models.DateTimeField(help_text="When Pitboss accepted it.")
    processed_at = models.DateTimeField(null=True, blank=True, help_text="When the handlers applied it.")
    processing_error = models.TextField(
        blank=True,
        db_default="",
        help_text="Set when a handler failed on this event alone; the event is kept and can be retried.",
    )
    source = models.CharField(max_length=16, choices=EventSource.choices)
    payload = models.JSONField(default=dict, help_text="The type's fields, validated.")
    digest = models.CharField(max_length=32, help_text="Digest of the event's content: a resent id is compared by it.")

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "type", "event_id"], name="event_unique_source_id"),
        ]
        indexes = [
            models.Index(fields=["player", "-occurred_at"], name="event_player_timeline"),
            models.Index(fields=["label", "-received_at"], name="event_label_received"),
            models.Index(fields=["label", "type", "-occurred_at"], name="event_label_type_occurred"),
            # The outbox: small, because it holds only the backlog. The sweeper reads it in id order, the dashboard
            # counts it per label.
            models.Index(fields=["id"], name="event_unprocessed", condition=models.Q(processed_at__isnull=True)),
            models.Index(
                fields=["label", "id"], name="event_unprocessed_label", condition=models.Q(processed_at__isnull=True)
            ),
            # Failed events (set aside by the pipeline): the explorer's "failed" filter and the dashboard.
            models.Index(
                fields=["label", "-received_at"], name="event_failed", condition=~models.Q(processing_error="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class FieldType(models.TextChoices):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"


class EventType(LabelScopedModel):
    """A custom event type a label's integration engineer registers, with typed payload fields.

    `fields` is a list of `{"name": str, "type": "string|integer|number|boolean|timestamp", "required": bool}`.
    """

    name = models.CharField(
        max_length=64,
        validators=[
            RegexValidator(r"^[a-z][a-z0-9_]{1,63}$", "Lower-case letters, digits and _, starting with a letter.")
        ],
        help_text="The `type` events of this kind carry, e.g. tournament_opened.",
    )
    description = models.TextField(blank=True)
    fields = models.JSONField(default=list, blank=True, help_text="Typed payload fields.")
    is_active = models.BooleanField(default=True, help_text="Inactive types are refused at ingest.")

    class Meta:
        ordering = ["label__name", "name"]
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="event_type_unique_per_label")]

    def __str__(self) -> str:
        return self.name
