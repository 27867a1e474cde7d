"""Tournaments: a template (`Tournament`) runs as one-time or repeating instances with live leaderboards.

Instance states: published -> registration -> started -> finalizing -> finished, or cancelled / failed (buy-ins
refunded). Scores are applied per micro-batch by the pipeline, in the transaction that claims the events (so an event
scores once); `LeaderboardBucket` keeps participant counts per score bucket so a player's rank is a
short sum plus a bounded index range count, at any number of participants.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet
from gamification.conditions import catalogue_errors, conditions_validate
from gamification.models.levels import ConfigStatus, PlayerFacing
from gamification.models.wallet import Currency

TournamentStatus = ConfigStatus


class Schedule(models.TextChoices):
    ONE_TIME = "one_time", "One time"
    REPEATING = "repeating", "Repeating"


class RegistrationType(models.TextChoices):
    AUTO = "auto", "Automatic"
    OPT_IN = "opt_in", "Opt-in"
    BUY_IN = "buy_in", "Buy-in"
    MANUAL = "manual", "Manual approval"


class ScoreMethod(models.TextChoices):
    COUNT = "count", "Count of events"
    SUM = "sum", "Sum of a field"
    BEST = "best", "Best single value of a field"


class Tournament(PlayerFacing):
    """The template: what counts, who may play, the prizes, and when instances run."""

    status = models.CharField(
        max_length=8,
        choices=TournamentStatus.choices,
        default=TournamentStatus.DRAFT,
        help_text="draft → active → archived: only active templates publish instances.",
    )
    # When
    schedule = models.CharField(max_length=12, choices=Schedule.choices, default=Schedule.ONE_TIME)
    starts_at = models.DateTimeField(help_text="Start of the (first) instance.")
    duration = models.DurationField(help_text="How long an instance runs.")
    repeat_every = models.DurationField(
        null=True, blank=True, help_text="Repeating: time between instance starts (e.g. 1 day)."
    )
    repeat_until = models.DateTimeField(null=True, blank=True, help_text="Repeating: no instance starts after this.")
    registration_opens_before = models.DurationField(
        null=True, blank=True, help_text="Registration opens this long before the start (empty: at publication)."
    )
    publish_before = models.DurationField(
        null=True, blank=True, help_text="Instances are published (visible) this long before the start."
    )
    # Who
    registration_type = models.CharField(max_length=8, choices=RegistrationType.choices, default=RegistrationType.AUTO)
    audience = models.ForeignKey(
        "crm.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only players in this segment may register and score (empty: every player). Checked live.",
    )
    buy_in_amount = models.PositiveBigIntegerField(null=True, blank=True, help_text="Buy-in price.")
    buy_in_currency = models.CharField(max_length=8, choices=Currency.choices, blank=True)
    min_players = models.PositiveIntegerField(
        default=0, help_text="Fewer registered at the start (or, automatic, at the end): the instance fails."
    )
    max_players = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: no limit.")
    # What counts
    event_type = models.CharField(max_length=64, help_text="The event type scored, e.g. casino_bet.")
    conditions = models.JSONField(
        default=list,
        blank=True,
        validators=[conditions_validate],
        help_text="Filters on the event's fields: games, categories, providers, minimum bet...",
    )
    score_method = models.CharField(max_length=8, choices=ScoreMethod.choices, default=ScoreMethod.COUNT)
    score_field = models.CharField(max_length=64, blank=True, help_text="Sum / best: the numeric payload field.")
    max_counted_events = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Optional cap on counted events per player."
    )
    leaderboard_size = models.PositiveIntegerField(default=100, help_text="Places shown on the leaderboard.")

    class Meta:
        ordering = ["label", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(score_method="count", score_field="") | (~Q(score_method="count") & ~Q(score_field="")),
                name="tournament_score_field_iff_not_count",
            ),
            models.CheckConstraint(
                condition=Q(registration_type="buy_in", buy_in_amount__gt=0) & ~Q(buy_in_currency="")
                | (~Q(registration_type="buy_in") & Q(buy_in_amount__isnull=True) & Q(buy_in_currency="")),
                name="tournament_buy_in_iff_buy_in",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = tournament_field_errors(self)
        if errors:
            raise ValidationError(errors)


def tournament_field_errors(t: Tournament) -> dict[str, list[str]]:
    """The one-row rules of a template, by field (activation adds the prizes); empty when it is complete. What it
    scores is checked against its label's event catalogue: the type, the conditions, a numeric field to score."""
    errors = _scoring_errors(t)
    if t.audience_id and t.label_id and t.audience.label_id != t.label_id:
        errors["audience"] = ["The segment must belong to the tournament's label."]
    if t.score_method in (ScoreMethod.SUM, ScoreMethod.BEST) and not t.score_field:
        errors["score_field"] = ["Required to score by sum or best value."]
    if t.score_method == ScoreMethod.COUNT and t.score_field:
        errors["score_field"] = ["Only for sum or best value: a count needs no field."]
    if t.registration_type == RegistrationType.BUY_IN:
        if not t.buy_in_amount:
            errors["buy_in_amount"] = ["Required (above zero) for a buy-in tournament."]
        if not t.buy_in_currency:
            errors["buy_in_currency"] = ["Required for a buy-in tournament."]
    else:
        if t.buy_in_amount is not None:
            errors["buy_in_amount"] = ["Only for a buy-in tournament: leave it empty."]
        if t.buy_in_currency:
            errors["buy_in_currency"] = ["Only for a buy-in tournament: leave it empty."]
    if t.schedule == Schedule.REPEATING:
        if not t.repeat_every or t.repeat_every <= dt.timedelta(0):
            errors["repeat_every"] = ["Required (above zero) for a repeating tournament."]
        if t.repeat_until and t.starts_at and t.repeat_until < t.starts_at:
            errors["repeat_until"] = ["Must not be before the start."]
    if t.duration is not None and t.duration <= dt.timedelta(0):
        errors["duration"] = ["Must be longer than zero."]
    if t.max_players is not None and t.min_players is not None and t.max_players < t.min_players:
        errors["max_players"] = ["Must not be below the minimum players."]
    return errors


def _scoring_errors(t: Tournament) -> dict[str, list[str]]:
    if not t.label_id:
        return {}
    from crm.selectors import event_catalogue  # crm's selectors import its models, which gamification's may not

    scored = t.score_method in (ScoreMethod.SUM, ScoreMethod.BEST)
    found = catalogue_errors(
        event_catalogue(label_id=t.label_id),
        event_type=t.event_type,
        conditions=t.conditions,
        value_field=t.score_field if scored else "",
        value_use="added up" if t.score_method == ScoreMethod.SUM else "scored",
    )
    return {"score_field" if key == "value_field" else key: messages for key, messages in found.items()}


class TournamentPrize(models.Model):
    """Places `place_from` to `place_to` (inclusive) each win these."""

    tournament = models.ForeignKey(Tournament, on_delete=models.CASCADE, related_name="prizes")
    place_from = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    place_to = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    points = models.PositiveBigIntegerField(default=0)
    gems = models.PositiveBigIntegerField(default=0)
    diamonds = models.PositiveBigIntegerField(default=0)
    badge = models.ForeignKey("gamification.Badge", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    description = models.CharField(max_length=255, blank=True, help_text="A tangible prize, fulfilled offline.")

    class Meta:
        ordering = ["tournament", "place_from"]
        constraints = [
            models.CheckConstraint(condition=Q(place_to__gte=models.F("place_from")), name="prize_place_range"),
        ]

    def __str__(self) -> str:
        return f"places {self.place_from} to {self.place_to}"


class InstanceStatus(models.TextChoices):
    PUBLISHED = "published", "Published"
    REGISTRATION = "registration", "Registration"
    STARTED = "started", "Started"
    FINALIZING = "finalizing", "Finalizing"
    FINISHED = "finished", "Finished"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


class TournamentInstance(LabelScopedModel):
    """One run of a tournament, with its own participants and leaderboard."""

    tournament = models.ForeignKey(Tournament, on_delete=models.PROTECT, related_name="instances")
    status = models.CharField(max_length=12, choices=InstanceStatus.choices, default=InstanceStatus.PUBLISHED)
    registration_opens_at = models.DateTimeField()
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    participant_count = models.PositiveIntegerField(default=0, help_text="Registered participants.")
    finalized_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=255, blank=True, help_text="Why it was cancelled or failed.")

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tournament", "starts_at"], name="tournament_instance_unique_start"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="instance_ends_after_start"),
        ]
        indexes = [models.Index(fields=["label", "status"], name="instance_label_status_idx")]

    def __str__(self) -> str:
        return f"{self.tournament} · {self.starts_at:%Y-%m-%d %H:%M}"


class ParticipantStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    PENDING = "pending", "Awaiting approval"
    REJECTED = "rejected", "Rejected"
    REFUNDED = "refunded", "Refunded"
    EXCLUDED = "excluded", "Off the board: account not active"  # back to registered, score kept, once ACTIVE again


class TournamentParticipant(models.Model):
    """A player in an instance: score, the time they reached it (ties), and, once finished, their place and prize."""

    # Every score update rewrites the row and all its indexes: no index of its own for `instance` (the unique key and
    # the leaderboard index lead with it), `label` (reads go through the instance) or `buy_in_entry` (never deleted).
    instance = models.ForeignKey(
        TournamentInstance, on_delete=models.PROTECT, related_name="participants", db_index=False
    )
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+", db_index=False)
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="tournament_entries")
    status = models.CharField(max_length=10, choices=ParticipantStatus.choices, default=ParticipantStatus.REGISTERED)
    score = models.DecimalField(max_digits=24, decimal_places=4, default=0)
    events_counted = models.PositiveIntegerField(default=0)
    reached_at = models.DateTimeField(help_text="When the player reached their score: earlier wins a tie.")
    registered_at = models.DateTimeField(auto_now_add=True)
    buy_in_entry = models.ForeignKey(
        "gamification.WalletEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    place = models.PositiveIntegerField(null=True, blank=True, help_text="Final place, set at finalization.")
    announced = models.BooleanField(
        db_default=False,
        help_text="Its tournament_registered fact was emitted: at once for a registration, by the next beat for an "
        "automatic entry (the pipeline's hot path does not ingest facts).",
    )

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-score", "reached_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "player"], name="participant_once_per_instance"),
        ]
        indexes = [
            models.Index(
                "instance", models.F("score").desc(), "reached_at", "id", name="participant_leaderboard_idx",
                condition=Q(status="registered"),
            ),
            models.Index(
                "instance", name="participant_unannounced_idx", condition=Q(announced=False, status="registered"),
            ),
            # The few taken off the board (account not active): a scoring batch finds who to put back at once.
            models.Index(
                fields=["instance", "player"], name="participant_excluded_idx", condition=Q(status="excluded"),
            ),
        ]  # fmt: skip

    def __str__(self) -> str:
        return f"{self.player_id}: {self.score}"


class LeaderboardBucket(models.Model):
    """How many registered participants of an instance have a score in the bucket starting at `bucket`."""

    pk = models.CompositePrimaryKey("instance_id", "bucket")
    instance = models.ForeignKey(TournamentInstance, on_delete=models.CASCADE, related_name="+")
    bucket = models.DecimalField(max_digits=24, decimal_places=4)
    count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.count} from {self.bucket}"
