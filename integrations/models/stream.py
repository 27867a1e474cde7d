"""Stream ingest: a label's RabbitMQ queue of events, consumed by `manage.py stream_consume`."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel


class StreamSource(LabelScopedModel):
    """A queue of the operator's events. A message is acknowledged only after its events are committed."""

    name = models.CharField(max_length=120)
    broker_url = EncryptedTextField(help_text="amqp://user:password@host:5672/vhost (encrypted at rest).")
    queue = models.CharField(max_length=200, help_text="Queue to consume.")
    dead_letter_queue = models.CharField(
        max_length=200, help_text="Where a message that can never be parsed goes, with the reason."
    )
    prefetch = models.PositiveIntegerField(default=100, validators=[MinValueValidator(1), MaxValueValidator(5000)])
    is_active = models.BooleanField(default=True)
    messages_read = models.BigIntegerField(default=0)
    events_accepted = models.BigIntegerField(default=0)
    messages_dead_lettered = models.BigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["label__name", "name"]
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="stream_source_unique_name")]

    def __str__(self) -> str:
        return self.name
