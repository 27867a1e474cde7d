"""Segments: sets of players, defined by a condition tree (user state and behaviour) or by an imported list.

- `Segment.conditions` is the condition tree of `crm.conditions` (docs/conditions.md); an imported segment's players
  are the rows of `SegmentListEntry`, written only by an import (`SegmentImport`).
- `SegmentMember` is the *tracked* membership: who was in the segment when it was last evaluated, kept by the `crm`
  pipeline group (as events are applied) and by the periodic refresh (time-driven changes). Its changes are the
  `segment_entered` / `segment_left` events. "Is this player in S now" never reads it: it evaluates the tree live
  (`crm.services.segments.segment_contains`). docs/segments.md says exactly when each is current.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel

# The condition a new conditions segment starts with: the reference excludes accounts that are not ACTIVE from
# marketing. It is visible and removable (a segment of blocked accounts for support is legitimate).
ACTIVE_ACCOUNTS_CONDITION = {"field": "core_account_status", "op": "eq", "value": "ACTIVE"}


def default_conditions() -> dict:
    """A new segment's tree: active accounts only."""
    return {"all": [dict(ACTIVE_ACCOUNTS_CONDITION)]}


class SegmentKind(models.TextChoices):
    CONDITIONS = "conditions", "Conditions (user state and behaviour)"
    IMPORTED = "imported", "Imported list (CSV)"


class SegmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"


class Segment(LabelScopedModel):
    """A set of players of one label: those matching `conditions`, or those of an imported list.

    Only active segments keep their tracked membership (and emit entered/left events); a paused one still answers
    live membership checks and counts.
    """

    name = models.CharField(max_length=120, help_text="Name shown to staff, e.g. Depositors of the last 30 days.")
    description = models.TextField(blank=True, help_text="What the segment is for (staff only).")
    kind = models.CharField(
        max_length=16,
        choices=SegmentKind.choices,
        default=SegmentKind.CONDITIONS,
        help_text="Conditions: players matching the condition tree. Imported: the players of an uploaded CSV list.",
    )
    conditions = models.JSONField(
        default=default_conditions,
        blank=True,
        help_text="The condition tree (conditions segments only): groups all / any / not over field, behaviour and "
        "segment conditions. A new segment starts with core_account_status = ACTIVE, which may be removed.",
    )
    status = models.CharField(
        max_length=8,
        choices=SegmentStatus.choices,
        default=SegmentStatus.ACTIVE,
        help_text="Active segments track membership and emit segment_entered / segment_left events.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Staff user who created it.",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Staff user who last changed it.",
    )
    refreshed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the whole tracked membership was last recomputed."
    )

    class Meta:
        ordering = ["label", "name", "id"]
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="segment_unique_name_per_label")]
        indexes = [models.Index(fields=["label", "status"], name="segment_label_status")]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A player in a segment's tracked membership, since `entered_at` (the diff of this table is the events)."""

    pk = models.CompositePrimaryKey("segment_id", "player_id")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+")
    entered_at = models.DateTimeField(help_text="When the player entered the segment (this time).")

    class Meta:
        indexes = [models.Index(fields=["player"], name="segment_member_player")]

    def __str__(self) -> str:
        return f"player {self.player_id} in segment {self.segment_id}"


class SegmentListEntry(models.Model):
    """A player of an imported segment's list (what the last imports matched)."""

    pk = models.CompositePrimaryKey("segment_id", "player_id")
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="list_entries")
    player = models.ForeignKey("crm.Player", on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        "crm.SegmentImport",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        help_text="The import that added it.",
    )

    class Meta:
        verbose_name_plural = "segment list entries"
        indexes = [models.Index(fields=["player"], name="segment_list_player")]

    def __str__(self) -> str:
        return f"player {self.player_id} on the list of segment {self.segment_id}"


class ImportMode(models.TextChoices):
    REPLACE = "replace", "Replace the list"
    APPEND = "append", "Add to the list"


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class SegmentImport(models.Model):
    """One CSV upload into an imported segment, processed by a Celery task in chunks.

    The file is kept under the var directory until the task has read it. A file-level problem (encoding, missing
    column) fails the import and changes nothing; row-level problems are rows left unmatched, with the reason.
    """

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="imports")
    file_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    file_path = models.CharField(max_length=500, help_text="Where the upload is stored until processed.")
    file_size = models.BigIntegerField(default=0, help_text="Bytes uploaded.")
    mode = models.CharField(
        max_length=8, choices=ImportMode.choices, default=ImportMode.REPLACE, help_text="Replace or add to the list."
    )
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.PENDING, help_text="Where the import is."
    )
    bytes_read = models.BigIntegerField(default=0, help_text="Progress: bytes of the file read so far.")
    rows_read = models.BigIntegerField(default=0, help_text="Data rows read so far.")
    rows_matched = models.BigIntegerField(default=0, help_text="Rows that named a player of the label.")
    rows_unmatched = models.BigIntegerField(default=0, help_text="Rows that named no player, or were invalid.")
    list_size = models.BigIntegerField(null=True, blank=True, help_text="Players on the list after the import.")
    error = models.TextField(blank=True, help_text="Why the import failed (names the row).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "done", "failed"]), name="segment_import_status_valid"
            )
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of {self.file_name}"

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        return min(99, int(100 * self.bytes_read / self.file_size)) if self.file_size else 0


class SegmentImportRow(models.Model):
    """An uploaded row: its line in the file, the ids it gave, and the player it matched (NULL: unmatched, with the
    reason). Filled with COPY and matched in one SQL statement."""

    id = models.BigAutoField(primary_key=True)
    # No database constraint: a constraint trigger per row would cost a 1,000,000-row import seconds at commit.
    segment_import = models.ForeignKey(
        SegmentImport, on_delete=models.CASCADE, db_constraint=False, related_name="rows"
    )
    line = models.BigIntegerField(help_text="Line number in the file (the header is line 1).")
    ext_brand_id = models.TextField(blank=True, help_text="The row's brand id (empty: any brand of the label).")
    user_ext_id = models.TextField(help_text="The row's player id, as given.")
    player = models.ForeignKey(
        "crm.Player", on_delete=models.SET_NULL, null=True, db_constraint=False, related_name="+"
    )
    problem = models.TextField(blank=True, help_text="Why the row matched no player.")

    class Meta:
        indexes = [
            models.Index(
                fields=["segment_import", "line"], name="segment_import_unmatched", condition=Q(player__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"line {self.line}"
