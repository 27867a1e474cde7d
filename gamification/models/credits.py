"""Staff credits under control: caps per label, role and currency, the requests above a cap that a second staff
member decides, and the automated credits withheld from players whose account is not ACTIVE."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from backoffice.models import Role
from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet
from gamification.models.wallet import Currency

# Caps when a label has configured none for a role and currency: (per adjustment, per day). A label admin changes
# them in the admin (Gamification → Credit caps). Roughly: a support agent settles a complaint, a manager runs a
# promotion, an admin fixes an incident; anything bigger takes a second pair of eyes. Debits are never capped.
DEFAULT_CREDIT_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    Role.ADMIN: {"points": (100_000, 1_000_000), "gems": (10_000, 100_000), "diamonds": (1_000, 10_000)},
    Role.MANAGER: {"points": (10_000, 100_000), "gems": (1_000, 10_000), "diamonds": (100, 1_000)},
    Role.SUPPORT: {"points": (1_000, 5_000), "gems": (100, 500), "diamonds": (10, 50)},
    Role.INTEGRATION_ENGINEER: {"points": (1_000, 5_000), "gems": (100, 500), "diamonds": (10, 50)},
}  # fmt: skip


class CreditLimit(LabelScopedModel):
    """What one role may credit in one currency without a second staff member's approval, per adjustment and per day
    (the label's day, in its time zone). Without a row the defaults in `DEFAULT_CREDIT_LIMITS` apply."""

    role = models.CharField(max_length=32, choices=Role.choices, help_text="The staff role the caps apply to.")
    currency = models.CharField(max_length=8, choices=Currency.choices, help_text="Points, gems or diamonds.")
    per_adjustment = models.BigIntegerField(
        validators=[MinValueValidator(0)],
        help_text="Largest single credit applied at once; above it the credit waits for approval (0: every credit).",
    )
    per_day = models.BigIntegerField(
        validators=[MinValueValidator(0)],
        help_text="Largest total of one staff member's credits applied at once in a day (the label's time zone).",
    )

    class Meta:
        ordering = ["label", "role", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["label", "role", "currency"], name="credit_limit_unique_role_currency"),
            models.CheckConstraint(condition=Q(per_adjustment__gte=0), name="credit_limit_per_adjustment_gte_0"),
            models.CheckConstraint(condition=Q(per_day__gte=F("per_adjustment")), name="credit_limit_day_gte_one"),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} · {self.currency}: {self.per_adjustment:,} / {self.per_day:,} a day"

    def clean(self) -> None:
        if self.per_day is not None and self.per_adjustment is not None and self.per_day < self.per_adjustment:
            raise ValidationError({"per_day": "At least the cap per adjustment."})


class CreditRequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class CreditRequest(LabelScopedModel):
    """A staff credit above the requester's cap: applied only when another staff member with the approving right
    approves it, exactly once (its wallet entry's key is derived from the request)."""

    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="credit_requests")
    currency = models.CharField(max_length=8, choices=Currency.choices, help_text="Points, gems or diamonds.")
    amount = models.BigIntegerField(help_text="The credit asked for (positive).")
    reason = models.CharField(max_length=500, help_text="Why, as the requester wrote it; kept on the wallet entry.")
    key = models.CharField(max_length=255, help_text="Unique per label: the same form submitted twice asks once.")
    exceeded = models.CharField(max_length=255, help_text="Which cap the credit is above, when it was asked.")
    status = models.CharField(
        max_length=16, choices=CreditRequestStatus.choices, default=CreditRequestStatus.PENDING, db_index=False
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+", help_text="Who asked."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who approved or rejected it (never the requester).",
    )
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When it was approved or rejected (UTC).")
    decision_note = models.CharField(max_length=500, blank=True, help_text="Why it was rejected (optional).")
    entry = models.OneToOneField(
        "gamification.WalletEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_request",
        help_text="The wallet entry its approval wrote.",
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "key"], name="credit_request_unique_key"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="credit_request_amount_positive"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="credit_request_four_eyes",
            ),
            models.CheckConstraint(
                condition=Q(status="pending", decided_at__isnull=True)
                | (~Q(status="pending") & Q(decided_at__isnull=False)),
                name="credit_request_decided_iff_not_pending",
            ),
        ]
        indexes = [
            models.Index(fields=["label", "id"], condition=Q(status="pending"), name="credit_request_pending_idx")
        ]

    def __str__(self) -> str:
        return f"+{self.amount:,} {self.currency} for {self.player_id} ({self.status})"


class WithheldCredit(models.Model):
    """An automated credit (mission, tournament, rule, journey) not given because the player's account was not ACTIVE
    and the label gives such players nothing. Never updated; `key` is the credit's own key, so a replay adds nothing.

    A badge award withheld the same way is a row with `badge` set (no currency, amount 0), keyed by the award's key.
    """

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="withheld_credits")
    currency = models.CharField(max_length=8, choices=Currency.choices, blank=True, help_text="Empty for a badge.")
    amount = models.BigIntegerField(help_text="The credit that was not given (0 for a badge).")
    badge = models.ForeignKey(
        "gamification.Badge",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The badge that was not awarded (its next stage).",
    )
    source = models.CharField(max_length=16, help_text="What would have paid it.")
    key = models.CharField(max_length=255, help_text="The credit's key: unique per label.")
    reason = models.CharField(max_length=500, blank=True, help_text="The credit's reason (e.g. the mission).")
    account_status = models.CharField(max_length=16, help_text="The player's account status at the time.")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When it was withheld (UTC).")

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "key"], name="withheld_credit_unique_key"),
            models.CheckConstraint(
                condition=Q(badge__isnull=True, amount__gt=0) & ~Q(currency="")
                | Q(badge__isnull=False, amount=0, currency=""),
                name="withheld_credit_or_badge",
            ),
        ]
        indexes = [models.Index(fields=["player", "-id"], name="withheld_credit_player_idx")]

    def __str__(self) -> str:
        if self.badge_id:
            return f"badge {self.badge} withheld ({self.account_status})"
        return f"{self.amount:+} {self.currency} withheld ({self.account_status})"
