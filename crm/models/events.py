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
    USAGE = "usage", "Usage analytics"
    SYSTEM = "system", "System"


class Event(models.Model):
    """A fact about a player. Unique by (label, type, event_id): the source's id, a transaction's or a bet's id.

    Immutable: after insert the row is never updated. The database stamps it with the id of the transaction that
    inserted it (column `txid`, xid8, not a Django field), which is how the pipeline's consumer groups find the events
    committed between two ticks (`crm.pipeline`). Each group keeps its position and failures in its own tables.
    """

    id = models.BigAutoField(primary_key=True)
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=128, help_text="The source's unique id of the event.")
    type = models.CharField(max_length=64, help_text="Core type (deposit, casino_bet...) or a custom type's name.")
    occurred_at = models.DateTimeField(help_text="When it happened at the source (UTC, millisecond precision).")
    received_at = models.DateTimeField(help_text="When Pitboss accepted it.")
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
