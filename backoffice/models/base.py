"""Abstract bases every domain model builds on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from backoffice.scoping import Actor


class TimeStampedModel(models.Model):
    """Adds `created_at` and `updated_at`."""

    created_at = models.DateTimeField(auto_now_add=True, help_text="When the row was created (UTC).")
    updated_at = models.DateTimeField(auto_now=True, help_text="When the row last changed (UTC).")

    class Meta:
        abstract = True


class LabelScopedQuerySet(models.QuerySet):
    """The one scoping mechanism: admin, API, exports and tasks all narrow rows through these two methods."""

    label_path = "label"

    def for_actor(self, actor: Actor, perm: str | None = None) -> LabelScopedQuerySet:
        """Rows of the labels the actor may see (or, with `perm`, may act on with that permission)."""
        label_ids = actor.label_ids if perm is None else actor.labels_with(perm)
        return self.filter(**{f"{self.label_path}_id__in": label_ids})

    def for_label(self, label_id: int) -> LabelScopedQuerySet:
        """Rows of one label: what a task working for that label reads."""
        return self.filter(**{f"{self.label_path}_id": label_id})


class LabelScopedModel(TimeStampedModel):
    """A domain row: belongs to exactly one label."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        abstract = True
