"""Bonuses: templates of the operator's bonuses, and each issuance of one to a player through the operator's Bonus API.

A bonus is a delivery row (ARCHITECTURE.md, "Deliver"): its idempotency key is stored with the row before any call,
a worker claims it with a conditional UPDATE, calls the operator with that key and records the outcome. The key never
changes, so a retry, a lookup after a timeout or a staff re-send can never apply the bonus twice at the operator.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel

MAX_KEY_LENGTH = 255


class BonusType(models.TextChoices):
    CASH = "cash", "Cash"
    FREE_SPINS = "free_spins", "Free spins"
    DEPOSIT_MATCH = "deposit_match", "Deposit match"
    COUPON = "coupon", "Coupon"


class TemplateSource(models.TextChoices):
    MANUAL = "manual", "Kept by hand"
    SYNCED = "synced", "Synced from the operator's catalogue"


class BonusTemplate(LabelScopedModel):
    """A bonus the operator offers, known to its Bonus API by `operator_code` ("10FREE_SPIN_IN_GOLDEN_SLOT").

    The bonus's details (games, wagering) live on the operator's side; Pitboss only says "give bonus X to player Y".
    Synced templates come from the operator's catalogue (the admin action and a daily task); manual ones are typed here.
    """

    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    public_name = models.CharField(max_length=200, blank=True, help_text="Name shown to players (empty: the name).")
    icon_url = models.URLField(blank=True, help_text="Icon shown to players.")
    operator_code = models.CharField(
        max_length=128, help_text="The operator's id of the bonus, sent to its Bonus API (unique per label)."
    )
    type = models.CharField(
        max_length=16, choices=BonusType.choices, help_text="Cash, free spins, deposit match or coupon."
    )
    amount = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The bonus's value (money, spins, match percent), for staff and costs; the operator decides what it "
        "gives. Empty: not stated.",
    )
    expiry_days = models.PositiveIntegerField(
        default=365,
        validators=[MinValueValidator(1)],
        help_text="Days an issued bonus stays usable before it expires.",
    )
    is_active = models.BooleanField(default=True, help_text="Off: the template can no longer be given.")
    source = models.CharField(
        max_length=8,
        choices=TemplateSource.choices,
        default=TemplateSource.MANUAL,
        help_text="Kept by hand, or synced from the operator's catalogue.",
    )
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the operator's catalogue last listed it (synced templates)."
    )

    class Meta:
        ordering = ["label", "name"]
        constraints = [
            models.UniqueConstraint(fields=["label", "operator_code"], name="bonus_template_unique_code"),
            models.CheckConstraint(condition=Q(expiry_days__gte=1), name="bonus_template_expiry_days_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.operator_code})"

    @property
    def display_name(self) -> str:
        return self.public_name or self.name


class BonusStatus(models.TextChoices):
    """The reference's bonus statuses."""

    NEW = "new", "New"
    ISSUED = "issued", "Issued"
    REDEEMED = "redeemed", "Redeemed"
    REDEEM_FAILED = "redeem_failed", "Redeem failed"
    ISSUE_FAILED = "issue_failed", "Issue failed"
    EXPIRED = "expired", "Expired"


class DeliveryState(models.TextChoices):
    """Where the call to the operator stands (ARCHITECTURE.md, "Deliver")."""

    PENDING = "pending", "Pending (to call)"
    IN_FLIGHT = "in_flight", "In flight (a worker is calling)"
    DONE = "done", "Done"
    UNKNOWN = "unknown", "Unknown (no answer: to look up)"
    FAILED = "failed", "Failed"


class BonusSource(models.TextChoices):
    RULE = "rule", "Automation rule"
    STAFF = "staff", "Staff"
    STORE = "store", "Store purchase"
    API = "api", "Partner API"


STORE_BONUS_KEY_PREFIX = "store:"  # a store purchase's bonus is keyed "store:<purchase id>"


# States a worker still has to act on; the sweeper's partial index covers only them.
OPEN_STATES = (DeliveryState.PENDING, DeliveryState.IN_FLIGHT, DeliveryState.UNKNOWN)


def new_idempotency_key() -> str:
    return f"pb-{uuid.uuid4().hex}"


class Bonus(LabelScopedModel):
    """One give of a template to a player: the key it is sent under, its status, and every call's trace.

    `key` is the giver's (rule, staff form, store purchase, partner): unique per label, so the same give never
    happens twice. `idempotency_key` is what the operator sees: stored before the first call and never changed.
    """

    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="bonuses")
    template = models.ForeignKey(BonusTemplate, on_delete=models.PROTECT, related_name="bonuses")
    status = models.CharField(
        max_length=16, choices=BonusStatus.choices, default=BonusStatus.NEW, help_text="The bonus's status."
    )
    delivery_state = models.CharField(
        max_length=16,
        choices=DeliveryState.choices,
        default=DeliveryState.PENDING,
        help_text="Where the call to the operator's Bonus API stands.",
    )
    idempotency_key = models.CharField(
        max_length=64,
        unique=True,
        default=new_idempotency_key,
        editable=False,
        help_text="Sent to the operator with every issue and lookup call; never changes (a re-send reuses it).",
    )
    source = models.CharField(max_length=8, choices=BonusSource.choices, help_text="Who gave it.")
    key = models.CharField(
        max_length=MAX_KEY_LENGTH,
        help_text="The giver's key (rule and event, staff form, store purchase, partner key): unique per label, so "
        "the same give never happens twice.",
    )
    amount = models.DecimalField(
        max_digits=18,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="An amount for this give, sent to the operator (empty: the template's own).",
    )
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was given (staff, rules).")
    attempts = models.PositiveIntegerField(default=0, help_text="Calls claimed so far (issue or lookup).")
    next_attempt_at = models.DateTimeField(help_text="When a worker may call next.")
    deliver_until = models.DateTimeField(
        help_text="Transient failures are retried until then; after it the bonus is issue failed."
    )
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last claimed the call.")
    last_error = models.TextField(blank=True, help_text="The last call's failure, if any.")
    request_body = models.JSONField(default=dict, blank=True, help_text="The body sent to the operator.")
    response_body = models.JSONField(
        default=dict, blank=True, help_text="The operator's last answer (issue or lookup), with its HTTP status."
    )
    operator_bonus_id = models.CharField(max_length=128, blank=True, help_text="The operator's id of the bonus.")
    issued_at = models.DateTimeField(null=True, blank=True, help_text="When the operator confirmed it.")
    redeemed_at = models.DateTimeField(null=True, blank=True, help_text="When the operator reported it redeemed.")
    expires_at = models.DateTimeField(help_text="When it expires if not redeemed (template's expiry days).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The staff member who gave it (empty: a rule, the store or a partner).",
    )

    # Not a column: set by bonus_give (False when the key had been used, so nothing was given again).
    created: bool = False

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "bonuses"
        constraints = [
            models.UniqueConstraint(fields=["label", "key"], name="bonus_unique_key_per_label"),
        ]
        indexes = [
            models.Index(fields=["player", "created_at"], name="bonus_player_created_idx"),
            models.Index(fields=["label", "-id"], name="bonus_label_id_idx"),
            models.Index(
                fields=["next_attempt_at"],
                name="bonus_open_due_idx",
                condition=Q(delivery_state__in=["pending", "in_flight", "unknown"]),
            ),
            models.Index(fields=["expires_at"], name="bonus_issued_expiry_idx", condition=Q(status="issued")),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} for {self.player}" if self.template_id and self.player_id else "bonus"
