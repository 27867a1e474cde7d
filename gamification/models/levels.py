"""Levels: ordered by the ever-earned points they require; a player's level follows their `points_earned`."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel


def validate_translations(value) -> None:
    """`{"EN": "Gold", "DE": "Gold"}`: ISO 639-1 codes (two letters) to text."""
    if not isinstance(value, dict):
        raise ValidationError("Expected an object of language code to text.", code="invalid")
    for code, text in value.items():
        if not (isinstance(code, str) and len(code) == 2 and code.isalpha()) or not isinstance(text, str):
            raise ValidationError(f"{code!r}: expected a two-letter language code and a text.", code="invalid")


class ConfigStatus(models.TextChoices):
    """The one-way life of a mission or a tournament template."""

    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class PlayerFacing(LabelScopedModel):
    """What players see of a mission or a tournament: a name, texts per language, an image, custom front-end data."""

    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    names = models.JSONField(default=dict, blank=True, validators=[validate_translations], help_text="Per language.")
    descriptions = models.JSONField(
        default=dict, blank=True, validators=[validate_translations], help_text="Per language."
    )
    image_url = models.URLField(blank=True, help_text="Image shown to players.")
    custom = models.JSONField(default=dict, blank=True, help_text="Custom data for the front end.")

    class Meta:
        abstract = True


class Level(LabelScopedModel):
    """A level of a label. A player is at the highest level whose `required_points` their ever-earned points reach,
    else at the label's default level."""

    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    required_points = models.BigIntegerField(help_text="Ever-earned points needed to reach this level.")
    names = models.JSONField(
        default=dict, blank=True, validators=[validate_translations], help_text='Per language, e.g. {"EN": "Gold"}.'
    )
    descriptions = models.JSONField(
        default=dict, blank=True, validators=[validate_translations], help_text="Per language, like names."
    )
    image_url = models.URLField(blank=True, help_text="Image shown to players.")
    custom = models.JSONField(default=dict, blank=True, help_text="Custom data for the front end.")
    is_default = models.BooleanField(default=False, help_text="The level of players below every other level.")

    class Meta:
        ordering = ["label", "required_points"]
        constraints = [
            models.UniqueConstraint(fields=["label", "required_points"], name="level_unique_required_points"),
            models.UniqueConstraint(fields=["label"], condition=Q(is_default=True), name="level_one_default"),
            models.CheckConstraint(condition=Q(required_points__gte=0), name="level_required_points_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name
