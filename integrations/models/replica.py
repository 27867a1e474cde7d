"""Replica-DB sync: a label's PostgreSQL replica, and the views Pitboss polls in it."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from backoffice.fields import EncryptedTextField
from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet

identifier = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$",
    "A view or column name: letters, digits and _, optionally schema-qualified (schema.view).",
)


class DataSource(LabelScopedModel):
    """The operator's read replica. The DSN holds a password, so it is encrypted at rest and never shown again."""

    name = models.CharField(max_length=120)
    dsn = EncryptedTextField(help_text="postgresql://user:password@host:5432/db (encrypted at rest).")
    is_active = models.BooleanField(default=True)
    poll_interval_seconds = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(5), MaxValueValidator(3600)],
        help_text="How often its views are read.",
    )

    class Meta:
        ordering = ["label__name", "name"]
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="data_source_unique_name")]

    def __str__(self) -> str:
        return self.name


class ViewKind(models.TextChoices):
    USERS = "users", "Users view (profile updates, by dt_update)"
    TRANSACTIONS = "transactions", "Transactional view (immutable rows)"


class CursorKind(models.TextChoices):
    TIMESTAMP = "timestamp", "Timestamp (dt_update, dt_finalized)"
    ID = "id", "Increasing id"


class SyncViewQuerySet(LabelScopedQuerySet):
    label_path = "source__label"


class SyncView(models.Model):
    """One view of a data source, read page by page after its cursor. Its status is shown in the admin.

    The stored position is (`cursor_value`, `cursor_key`): the last row committed, in (cursor, key) order. A
    timestamp cursor is re-read from `overlap_seconds` before it, so rows committed late with an earlier or equal
    timestamp are still read; what was read before is deduplicated by its event id.
    """

    source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="views")
    name = models.CharField(max_length=127, validators=[identifier], help_text="View name, e.g. deposits.")
    kind = models.CharField(max_length=16, choices=ViewKind.choices)
    event_type = models.CharField(
        max_length=64, help_text="The event each row becomes: profile_update for the users view, deposit, casino_bet..."
    )
    cursor_column = models.CharField(max_length=63, validators=[identifier], help_text="dt_update, dt_finalized or id.")
    cursor_kind = models.CharField(max_length=16, choices=CursorKind.choices, default=CursorKind.TIMESTAMP)
    id_column = models.CharField(
        max_length=63, validators=[identifier], blank=True,
        help_text="Unique id of a row (transaction_id, bet_id); it becomes the event id. Blank for the users view.",
    )  # fmt: skip
    column_map = models.JSONField(
        default=dict, blank=True,
        help_text='View column to event field, e.g. {"transaction_date": "occurred_at", "amount": "deposit_amount"}.',
    )  # fmt: skip
    type_column = models.CharField(
        max_length=63, validators=[identifier], blank=True,
        help_text="A column telling each row's event type, for one table of bets and wins (see type map).",
    )  # fmt: skip
    type_map = models.JSONField(
        default=dict, blank=True,
        help_text='Value of the type column to event type, e.g. {"bet": "casino_bet", "win": "casino_win"}; '
        "null skips the rows with that value.",
    )  # fmt: skip
    page_size = models.PositiveIntegerField(default=1000, validators=[MinValueValidator(1), MaxValueValidator(10000)])
    overlap_seconds = models.PositiveIntegerField(
        default=5, validators=[MaxValueValidator(3600)],
        help_text="Timestamp cursors: each run re-reads this many seconds before the cursor, so rows committed late "
        "with an earlier or equal timestamp are not missed (re-read rows are recognized and skipped).",
    )  # fmt: skip
    is_active = models.BooleanField(default=True)
    cursor_value = models.CharField(max_length=64, blank=True, help_text="Last cursor value committed.")
    cursor_key = models.TextField(
        blank=True, help_text="Key of the last row committed at that cursor value (JSON), which breaks ties."
    )
    rows_read = models.BigIntegerField(default=0, help_text="Rows read for the first time (re-reads not counted).")
    rows_invalid = models.BigIntegerField(default=0, help_text="Rows refused: bad values, unknown brand or type.")
    last_invalid = models.TextField(blank=True, help_text="The last rows refused, and why.")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    lag_seconds = models.FloatField(null=True, blank=True, help_text="Age of the newest row read, at the last run.")
    last_error = models.TextField(blank=True)

    objects = SyncViewQuerySet.as_manager()

    class Meta:
        ordering = ["source", "name"]
        constraints = [models.UniqueConstraint(fields=["source", "name", "event_type"], name="sync_view_unique")]

    def __str__(self) -> str:
        return f"{self.source}: {self.name}"

    def clean(self) -> None:
        from integrations.replica.config import sync_view_errors

        errors = sync_view_errors(self)
        if errors:
            raise ValidationError(errors)
