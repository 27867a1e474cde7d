"""Tenancy: labels (tenants), their brands (sites) and the staff who work on them."""

from __future__ import annotations

import secrets
import zoneinfo

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from backoffice.identifiers import InvalidIdentifier, external_id
from backoffice.models.base import LabelScopedQuerySet, TimeStampedModel
from backoffice.models.roles import Role

MAX_ENTRY_POINTS = 50


def new_public_key() -> str:
    return secrets.token_hex(12)


def new_salt() -> str:
    return secrets.token_hex(24)


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (e.g. Europe/Malta).", code="invalid")


def validate_entry_points(value: list[str]) -> None:
    if len(value) > MAX_ENTRY_POINTS:
        raise ValidationError(f"At most {MAX_ENTRY_POINTS} entry points per label; got {len(value)}.", code="max")
    if len(set(value)) != len(value):
        raise ValidationError("Entry points must be unique.", code="unique")


class LabelQuerySet(LabelScopedQuerySet):
    label_path = ""

    def for_actor(self, actor, perm=None):
        return self.filter(id__in=actor.label_ids if perm is None else actor.labels_with(perm))

    def for_label(self, label_id):
        return self.filter(id=label_id)


class Label(TimeStampedModel):
    """A tenant: one operator setup, with its public key, secret salt, time zone and front-end settings."""

    name = models.CharField(max_length=120, unique=True, help_text="Name shown to staff.")
    label_key = models.CharField(
        max_length=64, unique=True, default=new_public_key, help_text="Public key the front-end script sends."
    )
    salt = models.CharField(
        max_length=64,
        default=new_salt,
        help_text="Secret salt of the user hash (protected identification, read-only widget). Keep it server-side.",
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="IANA time zone used for schedules and reports.",
    )
    allowed_entry_points = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        validators=[validate_entry_points],
        help_text=f"Login entry points accepted for this label (lobby, mobile, app...), at most {MAX_ENTRY_POINTS}.",
    )
    control_group_pct = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Share of new players (0-100 %) put in the gamification control group.",
    )
    base_currency = models.CharField(
        max_length=3,
        default="EUR",
        validators=[RegexValidator(r"^[A-Z]{3}$", "An ISO 4217 code in capitals, e.g. EUR.")],
        help_text="Currency in which missions and tournaments count and sum money (amounts are converted at the "
        "exchange rate of their day).",
    )
    active_players_only = models.BooleanField(
        default=True,
        help_text="Players whose account status is not ACTIVE earn nothing, make no mission progress, are not "
        'entered in tournaments and are not shown on leaderboards ("not ACTIVE, no marketing activities").',
    )
    bonus_daily_cap = models.PositiveIntegerField(
        default=30,
        help_text="At most this many successful bonuses per player in any 24 hours (issued, redeemed, expired, or "
        "still being issued); further gives are refused.",
    )
    is_active = models.BooleanField(default=True, help_text="An inactive label accepts no API calls.")

    objects = LabelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(control_group_pct__gte=0, control_group_pct__lte=100),
                name="label_control_group_pct_range",
            ),
            models.CheckConstraint(
                condition=models.Q(allowed_entry_points__len__lte=MAX_ENTRY_POINTS),
                name="label_entry_points_max_50",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Brand(TimeStampedModel):
    """A site of a label, known to the operator by `ext_brand_id`."""

    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="brands")
    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    brand_key = models.CharField(
        max_length=64, unique=True, default=new_public_key, help_text="Public key the front-end script sends."
    )
    ext_brand_id = models.CharField(
        max_length=64, help_text="The operator's id of the brand, as in its data (string or integer)."
    )
    is_active = models.BooleanField(default=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["label__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["label", "ext_brand_id"], name="brand_unique_ext_id_per_label"),
            models.CheckConstraint(condition=~models.Q(ext_brand_id=""), name="brand_ext_id_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ext_brand_id})"

    def clean(self) -> None:
        """The id as events and the API compare it (NFC, no control or invisible characters): a brand typed in the
        admin with an invisible character would never receive an event."""
        if self.ext_brand_id:
            try:
                self.ext_brand_id = external_id(self.ext_brand_id, max_length=64)
            except InvalidIdentifier as exc:
                raise ValidationError({"ext_brand_id": str(exc)}) from None


class StaffRole(TimeStampedModel):
    """A staff user's role in one label; a user can hold roles in several labels."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="label_roles")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(max_length=32, choices=Role.choices)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["label__name", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "label"], name="staff_role_one_per_label")]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} of {self.label}"
