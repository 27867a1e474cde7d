"""Missions: sets of tasks that count matching events; badges: achievements with stages.

A mission's status moves one way: draft -> active -> archived. A player's run of a mission is a `PlayerMission` row
(one per mission, player, recurrence cycle and completion number) written when its state changes (started, opted in,
unlocked, completed, claimed, missed). The progress of a player's open runs lives in one `MissionProgress` row per
player, the only row the pipeline writes per player and micro-batch; a finished run keeps its final progress on its
`PlayerMission` row. `TaskContribution` is a read-only view of what windowed tasks hold in those documents.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import TYPE_CHECKING

import orjson
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from backoffice.models.base import LabelScopedModel, LabelScopedQuerySet
from gamification.conditions import catalogue_errors, conditions_validate
from gamification.models.levels import ConfigStatus, PlayerFacing, validate_translations

if TYPE_CHECKING:
    from crm.catalogue import LabelCatalogue


class BadgeVisibility(models.TextChoices):
    GREYED = "greyed", "Shown greyed until earned"
    HIDDEN = "hidden", "Hidden until earned"


class Badge(LabelScopedModel):
    """An achievement. With stages, each award raises the player to the next stage (e.g. bronze, silver, gold)."""

    name = models.CharField(max_length=120, help_text="Name shown to staff.")
    names = models.JSONField(default=dict, blank=True, validators=[validate_translations], help_text="Per language.")
    descriptions = models.JSONField(
        default=dict, blank=True, validators=[validate_translations], help_text="Per language."
    )
    image_url = models.URLField(blank=True, help_text="Image shown to players.")
    visibility = models.CharField(
        max_length=8,
        choices=BadgeVisibility.choices,
        default=BadgeVisibility.GREYED,
        help_text="How players who have not earned it see it.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")
    is_active = models.BooleanField(default=True, help_text="Off: no longer awarded nor shown unless earned.")

    class Meta:
        ordering = ["label", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["label", "name"], name="badge_unique_name")]

    def __str__(self) -> str:
        return self.name


class BadgeStage(models.Model):
    """Stage `number` (1, 2, 3...) of a badge; a badge without stages has one implicit stage."""

    badge = models.ForeignKey(Badge, on_delete=models.CASCADE, related_name="stages")
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)], help_text="1 is the first stage.")
    name = models.CharField(max_length=120, help_text="e.g. Bronze.")
    names = models.JSONField(default=dict, blank=True, validators=[validate_translations], help_text="Per language.")
    image_url = models.URLField(blank=True, help_text="Image of this stage.")

    class Meta:
        ordering = ["badge", "number"]
        constraints = [models.UniqueConstraint(fields=["badge", "number"], name="badge_stage_unique_number")]

    def __str__(self) -> str:
        return f"{self.badge} · {self.name}"


class BadgeAward(models.Model):
    """A player reached `stage` of a badge. `key` (unique per label) makes an award happen once."""

    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="badge_awards")
    badge = models.ForeignKey(Badge, on_delete=models.PROTECT, related_name="awards")
    stage = models.PositiveSmallIntegerField(default=1)
    source = models.CharField(max_length=16, help_text="mission, rule, manual or api.")
    key = models.CharField(max_length=255)
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "key"], name="badge_award_unique_key"),
            models.UniqueConstraint(fields=["player", "badge", "stage"], name="badge_award_once_per_stage"),
        ]

    def __str__(self) -> str:
        return f"{self.badge} stage {self.stage}"


MissionStatus = ConfigStatus


class MissionType(models.TextChoices):
    GENERAL = "general", "Generally available"
    LOCKED = "locked", "Locked"
    RECURRING = "recurring", "Recurring (scheduled)"
    RECURRING_ON_COMPLETION = "recurring_on_completion", "Recurring on completion"


class Recurrence(models.TextChoices):
    DAILY = "daily", "Every day"
    WEEKDAYS = "weekdays", "On weekdays"
    DAYS_OF_MONTH = "days_of_month", "On days of the month"


def _validate_weekdays(value) -> None:
    if not isinstance(value, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in value):
        raise ValidationError("A list of weekdays, 0 (Monday) to 6 (Sunday).", code="invalid")


def _validate_month_days(value) -> None:
    if not isinstance(value, list) or not all(isinstance(d, int) and 1 <= d <= 31 for d in value):
        raise ValidationError("A list of days of the month, 1 to 31.", code="invalid")


class Mission(PlayerFacing):
    """A set of tasks; completed when every task is done. Rewards in points, gems, diamonds and a badge."""

    status = models.CharField(
        max_length=8, choices=MissionStatus.choices, default=MissionStatus.DRAFT, help_text="draft → active → archived."
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    type = models.CharField(max_length=24, choices=MissionType.choices, default=MissionType.GENERAL)
    is_featured = models.BooleanField(default=False, help_text="Shown first and highlighted.")
    position = models.PositiveIntegerField(default=0, help_text="Lower comes first.")
    # Locked missions: any one of the conditions unlocks.
    unlock_level = models.ForeignKey(
        "gamification.Level",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Locked: unlocked on reaching this level.",
    )
    unlock_mission = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="unlocks",
        help_text="Locked: unlocked by completing this mission.",
    )
    unlock_event_type = models.CharField(
        max_length=64, blank=True, help_text="Locked: unlocked by an event of this type..."
    )
    unlock_event_conditions = models.JSONField(
        default=list, blank=True, validators=[conditions_validate], help_text="...matching these conditions."
    )
    # Recurring (scheduled): cycles are days in the label's time zone; progress starts over each cycle.
    recurrence = models.CharField(max_length=16, choices=Recurrence.choices, blank=True)
    recurrence_weekdays = models.JSONField(
        default=list, blank=True, validators=[_validate_weekdays], help_text="0 = Monday ... 6 = Sunday."
    )
    recurrence_month_days = models.JSONField(
        default=list, blank=True, validators=[_validate_month_days], help_text="1 to 31."
    )
    max_completions = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(10_000)],
        help_text="Recurring on completion: how many times a player may complete it (empty: no limit).",
    )
    audience = models.ForeignKey(
        "crm.Segment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Only players in this segment see it and progress in it (empty: every player). Checked live.",
    )
    requires_opt_in = models.BooleanField(default=False, help_text="Progress counts only after the player opts in.")
    time_limit = models.DurationField(
        null=True, blank=True, help_text="With opt-in: time to complete it from the opt-in; then it is missed."
    )
    active_from = models.DateTimeField(null=True, blank=True, help_text="Open from (empty: on activation).")
    active_till = models.DateTimeField(null=True, blank=True, help_text="Open until (empty: until archived).")
    claim_required = models.BooleanField(
        default=False, help_text="The player claims the reward; otherwise it is given on completion."
    )
    reward_points = models.PositiveBigIntegerField(default=0)
    reward_gems = models.PositiveBigIntegerField(default=0)
    reward_diamonds = models.PositiveBigIntegerField(default=0)
    reward_badge = models.ForeignKey(
        Badge, on_delete=models.PROTECT, null=True, blank=True, related_name="+", help_text="Awarded on completion."
    )

    class Meta:
        ordering = ["label", "-is_featured", "position", "id"]
        indexes = [models.Index(fields=["label", "status"], name="mission_label_status_idx")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Only a draft's configuration can change (the admin shows an active one read-only): an active mission saved
        # before a check existed keeps saving its texts, and the admin shows what is wrong with it.
        if self.status != MissionStatus.DRAFT:
            return
        catalogue = _catalogue(self.label_id) if self.label_id else None
        errors = mission_field_errors(self, catalogue)
        if errors:
            raise ValidationError(errors)


def _catalogue(label_id: int) -> LabelCatalogue:
    from crm.selectors import event_catalogue  # crm's selectors import its models, which gamification's may not

    return event_catalogue(label_id=label_id)


def _renamed(errors: dict[str, list[str]], names: dict[str, str]) -> dict[str, list[str]]:
    return {names.get(key, key): messages for key, messages in errors.items()}


def mission_field_errors(mission: Mission, catalogue: LabelCatalogue | None) -> dict[str, list[str]]:
    """The one-row rules of a mission's configuration, by field; with the label's event catalogue, also what its
    unlock event can never be. Empty when it is consistent (activation asks more: `mission_check`)."""
    errors: dict[str, list[str]] = {}
    if mission.active_from and mission.active_till and mission.active_till <= mission.active_from:
        errors["active_till"] = ["Must be after active from."]
    if mission.unlock_event_conditions and not mission.unlock_event_type:
        errors["unlock_event_type"] = ["Required with unlock conditions: the event type they test."]
    if mission.audience_id and mission.label_id and mission.audience.label_id != mission.label_id:
        errors["audience"] = ["The segment must belong to the mission's label."]
    if catalogue is not None:
        found = catalogue_errors(
            catalogue, event_type=mission.unlock_event_type, conditions=mission.unlock_event_conditions
        )
        errors |= _renamed(found, {"event_type": "unlock_event_type", "conditions": "unlock_event_conditions"})
    return errors


class TaskAggregation(models.TextChoices):
    COUNT = "count", "Count of events"
    SUM = "sum", "Sum of a field"


class MissionTask(models.Model):
    """Counts the player's events of `event_type` matching `conditions`, by count or by the sum of `sum_field`,
    up to `target`; with a `window`, only events within that span of the latest one count."""

    mission = models.ForeignKey(Mission, on_delete=models.CASCADE, related_name="tasks")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=120, help_text="e.g. Bet 10 times on slots.")
    names = models.JSONField(default=dict, blank=True, validators=[validate_translations], help_text="Per language.")
    event_type = models.CharField(max_length=64, help_text="The event type counted, e.g. casino_bet.")
    conditions = models.JSONField(
        default=list, blank=True, validators=[conditions_validate], help_text="Conditions on the event's fields."
    )
    aggregation = models.CharField(max_length=8, choices=TaskAggregation.choices, default=TaskAggregation.COUNT)
    sum_field = models.CharField(max_length=64, blank=True, help_text="Sum: the numeric payload field added up.")
    target = models.DecimalField(max_digits=20, decimal_places=4, help_text="Count or sum that completes the task.")
    window = models.DurationField(null=True, blank=True, help_text="Optional: the target must be met within this span.")

    class Meta:
        ordering = ["mission", "position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(target__gt=0), name="mission_task_target_positive"),
            models.CheckConstraint(
                condition=Q(aggregation="count", sum_field="") | (Q(aggregation="sum") & ~Q(sum_field="")),
                name="mission_task_sum_field_iff_sum",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def counted_field(self) -> str:
        """The field a sum adds up; "" for a count."""
        return self.sum_field if self.aggregation == TaskAggregation.SUM else ""

    @property
    def counts_money(self) -> bool:
        """Whether the summed field is money (counted in the label's base currency)."""
        from crm.catalogue import MONEY_FIELDS

        return (self.event_type, self.counted_field) in MONEY_FIELDS

    @property
    def counter(self) -> str:
        """The id of the counter every task of its kind (event type, conditions, counted value) counts on, in every
        process and across restarts (`MissionProgress.counters`; runs keep it)."""
        conditions = orjson.dumps(self.conditions, option=orjson.OPT_SORT_KEYS)
        text = b"\0".join([self.event_type.encode(), conditions, self.counted_field.encode(),
                           b"money" if self.counts_money else b""])  # fmt: skip
        return hashlib.blake2b(text, digest_size=6).hexdigest()

    def clean(self) -> None:
        try:
            label_id = self.mission.label_id  # set by the admin's formset on a mission's add page too
        except ObjectDoesNotExist:
            label_id = None
        errors = mission_task_errors(self, _catalogue(label_id) if label_id else None)
        if errors:
            raise ValidationError(errors)


def mission_task_errors(task: MissionTask, catalogue: LabelCatalogue | None) -> dict[str, list[str]]:
    """The one-row rules of a task, by field; with the label's event catalogue, also what its events can never be:
    an unknown type, a condition on a field it lacks or with a value of another kind, a sum over a non-number."""
    errors: dict[str, list[str]] = {}
    summed = task.aggregation == TaskAggregation.SUM
    if summed and not task.sum_field:
        errors["sum_field"] = ["Required to add up a sum: the numeric field added up."]
    if not summed and task.sum_field:
        errors["sum_field"] = ["Only for a sum: a count adds up no field."]
    if task.target is not None and task.target <= 0:
        errors["target"] = ["Must be above zero."]
    if task.window is not None and task.window <= dt.timedelta(0):
        errors["window"] = ["Must be longer than zero."]
    if catalogue is not None:
        value_field = task.sum_field if summed else ""
        found = catalogue_errors(
            catalogue, event_type=task.event_type, conditions=task.conditions, value_field=value_field
        )
        errors |= _renamed(found, {"value_field": "sum_field"})
    return errors


class PlayerMissionState(models.TextChoices):
    LOCKED = "locked", "Locked"
    AVAILABLE = "available", "Available"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CLAIMED = "claimed", "Claimed"
    MISSED = "missed", "Missed"


OPEN_RUN_STATES = (PlayerMissionState.AVAILABLE, PlayerMissionState.IN_PROGRESS)


def progress_key(mission_id: int, cycle: str) -> str:
    """The key of a run's entry in its player's `MissionProgress.runs`: one open run per mission and cycle."""
    return f"{mission_id}:{cycle}"


def progress_text(value: Decimal) -> str:
    """A progress value as stored and shown: `12.5`, `3` (no trailing zeros, no exponent)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def progress_of(runs: dict, counters: dict, mission_id: int, cycle: str, run: int) -> dict:
    """Task id -> counted value of one open run, from its player's document (empty when it has counted nothing): a
    windowed task's value as the run holds it, any other task's as its shared counter now less the counter's value
    when the run started counting (`MissionProgress`), never below 0 nor above the target."""
    entry = runs.get(progress_key(mission_id, cycle))
    if not entry or entry.get("r") != run:
        return {}
    progress = dict(entry.get("p", {}))
    for task_key, (counter, base, target) in entry.get("b", {}).items():
        value = Decimal(counters.get(counter, "0")) - Decimal(base)
        progress[task_key] = progress_text(max(Decimal(0), min(value, Decimal(target))))
    return progress


# A counter first written this long after a mission's activation holds only events counted while every worker knew
# the mission (the handler's cache, `mission_config.CACHE_TTL`, and room for clocks that differ between hosts).
IMPLICIT_AFTER = dt.timedelta(seconds=60)


def mission_counts_without_rows(*, mission: Mission) -> bool:
    """Whether the mission's runs are open without an entry or a row until they complete (see `MissionProgress`): not
    locked (an unlock starts the run at the counters' values then), with no end date, no opt-in and no audience, so a
    run's progress is its counters and windows (of its cycle) from their start and it ends by completing, or with its
    cycle. For a mission recurring on completion, only its first run: each later one counts from the counters' values
    when it started (an entry, as before)."""
    return (
        mission.type != MissionType.LOCKED
        and mission.active_till is None
        and not mission.requires_opt_in
        and mission.audience_id is None
    )


def mission_implicit_since(*, mission: Mission) -> float | None:
    """Epoch seconds from which a counter first written lets the mission's runs count on it from 0 (None: never)."""
    if mission.activated_at is None:
        return None
    return (mission.activated_at + IMPLICIT_AFTER).timestamp()


def counter_counts_from_zero(counters: dict, born: dict, key: str, since: float) -> bool:
    """Whether a run may count on the counter (or window) `key` from 0: it is new, or was first written at or after
    `since` (`mission_implicit_since`). One written before `born` was kept has no birth: it is older."""
    return key not in counters or born.get(key, 0) >= since


def window_key(counter: str, window: dt.timedelta, cycle: str) -> str:
    """The key of the window every windowed task of one kind (`MissionTask.counter`), span and cycle counts on, in
    `MissionProgress.windows` (and `born`): the cycle last, as counters' keys have it."""
    return f"{counter}/{int(window.total_seconds())}:{cycle}"


def counted_on(counter: str, window: dt.timedelta | None, cycle: str) -> str:
    """The key of what a task counts on in the player's document: its counter of the cycle (`counters`), or for a
    windowed task its window (`windows`, `window_key`)."""
    return f"{counter}:{cycle}" if window is None else window_key(counter, window, cycle)


def window_total(items: list) -> Decimal:
    """What a window's items (`[epoch seconds, amount text, event id]`) add up to."""
    return sum((Decimal(item[1]) for item in items), Decimal(0))


def progress_implicit(
    mission: Mission, cycle: str, runs: dict, counters: dict, born: dict, windows: dict
) -> dict | None:
    """Task id -> counted value of the player's run of `mission` in `cycle` when it is open without an entry or a row
    (see `MissionProgress`): each task's counter of the cycle from 0, or what its window holds, at most its target.
    None when the mission does not count without rows, the document holds an entry of the run, or a counter or
    window was first written before `mission_implicit_since` (that run has, or will get, an entry)."""
    tasks = list(mission.tasks.all())
    since = mission_implicit_since(mission=mission)
    if since is None or not mission_counts_without_rows(mission=mission):
        return None
    if progress_key(mission.pk, cycle) in runs:
        return None
    progress = {}
    for task in tasks:
        key = counted_on(task.counter, task.window, cycle)
        if not counter_counts_from_zero(counters if task.window is None else windows, born, key, since):
            return None
        value = Decimal(counters.get(key, "0")) if task.window is None else window_total(windows.get(key, []))
        progress[str(task.pk)] = progress_text(min(value, task.target))
    return progress


class PlayerMission(models.Model):
    """A player's run of a mission in one cycle (recurring: the cycle's date; otherwise "") and completion number.

    The row is written when the run's state changes, not when it progresses: an open run's progress is in the
    player's `MissionProgress` document (`progress` reads it), a finished run's is `stored_progress`.
    Its table keeps a fifth of each page free (fillfactor 80, migration 0009): state and times are not indexed, so
    the updates of a run stay on its page (HOT) and write no index entry.
    """

    # The label is the player's (the pipeline writes each label's runs from that label's events, services from the
    # player): it needs no index (every read goes by player or by mission) and no check of its own. A run is
    # inserted per (player, mission) a player starts, and each foreign key checked costs the pipeline's commit a
    # lookup and a row lock per run (bench/gamification.py: the label's check and index were a sixth of the group's
    # commit time). The player and the mission are still checked.
    label = models.ForeignKey(
        "backoffice.Label", on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    # No single-column indexes: (player, mission) and the unique run key lead with them. Every index is written on
    # each run created by the pipeline.
    player = models.ForeignKey("crm.Player", on_delete=models.PROTECT, related_name="missions", db_index=False)
    mission = models.ForeignKey(Mission, on_delete=models.PROTECT, related_name="player_missions", db_index=False)
    cycle = models.CharField(max_length=16, blank=True, default="", help_text="Recurring: the cycle's date.")
    run = models.PositiveIntegerField(default=1, help_text="Recurring on completion: the completion number.")
    state = models.CharField(max_length=12, choices=PlayerMissionState.choices)
    stored_progress = models.JSONField(
        default=dict,
        db_column="progress",
        help_text="Task id -> counted value when the run finished (an open run's is in its player's MissionProgress).",
    )
    unlocked_at = models.DateTimeField(null=True, blank=True)
    opted_in_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Opt-in + time limit.")
    completed_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["mission", "player", "cycle", "run"], name="player_mission_unique_run"),
        ]
        indexes = [models.Index(fields=["player", "mission"], name="player_mission_player_idx")]

    def __str__(self) -> str:
        return f"{self.mission} ({self.state})"

    @property
    def progress(self) -> dict:
        """Task id -> counted value: for an open run read from the player's document (one query; the selectors read
        the document once for all of a player's runs), for a finished run what it ended with."""
        if self.state not in OPEN_RUN_STATES:
            return self.stored_progress
        document = MissionProgress.objects.filter(player_id=self.player_id)
        found = document.values_list("runs", "counters", "born", "windows").first()
        runs, counters, born, windows = found or ({}, {}, {}, {})
        implicit = progress_implicit(self.mission, self.cycle, runs, counters, born, windows)
        return implicit if implicit is not None else progress_of(runs, counters, self.mission_id, self.cycle, self.run)


class MissionProgress(models.Model):
    """The progress of one player's open mission runs: one row per player, rewritten once per micro-batch that
    counts for them (a run row is written only when its state changes).

    `counters` maps `"<counter id>:<cycle>"` to what the player's events matching one kind of task (event type,
    conditions, counted value: `MissionTask.counter`) have added up to in that cycle ("" for missions without cycles,
    the date for recurring ones); every task without a window of every mission counts on it, so an event moves the
    few counters it matches, not every run. `windows` maps `window_key` (kind, span, cycle) to the events within that
    span of the newest one, `[[epoch seconds, amount, event id], ...]` by time: every windowed task of that kind and
    span counts on it (older events are dropped on write, an event is held once by its id). `runs` maps
    `"<mission id>:<cycle>"` (`progress_key`) to `{"r": run number, "b": {task id: [counter, its value when the run
    started counting, target]}, "p": {task id: value}, "k": {task id: [window key, [event ids it does not count]]}}`:
    a task's progress is its counter less that start value (`progress_of`); a windowed task's is in `p` (what the
    player sees, never above the target, set each time the window moves), and it counts what its window holds less
    the events it leaves out (held before the run started counting, before an opt-in, past a time limit; ids no
    longer held are dropped on write). An entry written before windows were shared keeps its own events in `w`
    (`{task id: [[epoch seconds, amount, event id], ...]}`); its run's next batch moves them into the shared window.
    An entry is written when its run starts, ends, or leaves out events its counter counted
    (before an opt-in, past a time limit, outside the mission's audience). An entry whose `r` is not the run's number
    is stale and reads empty. Counters and windows of recurring days more than two days past are dropped on write.

    A run of a mission that counts without rows (`mission_counts_without_rows`: not locked, no end date, no opt-in, no
    audience; of a mission recurring on completion, the first run) has no entry and no row while it is open when
    every counter and window it counts on (of its cycle) was first written (`born`: epoch seconds of that batch) a
    minute or more after the mission's activation (`mission_implicit_since`): its progress is those counters from 0
    and what those windows hold (`progress_implicit`), and its row is written when it completes. Otherwise (a counter
    older than the mission, events its counter counted that the run leaves out, a windowed task done before the
    others) it has an entry as above.
    """

    player = models.OneToOneField(
        "crm.Player", on_delete=models.PROTECT, primary_key=True, related_name="mission_progress"
    )
    label = models.ForeignKey("backoffice.Label", on_delete=models.PROTECT, related_name="+")
    runs = models.JSONField(default=dict, help_text="Progress of the player's open runs, by mission and cycle.")
    counters = models.JSONField(default=dict, help_text="What the player's events add up to, by task kind and cycle.")
    born = models.JSONField(
        default=dict, help_text="When each counter or window was first written (epoch seconds), by its key."
    )
    windows = models.JSONField(
        default=dict, help_text="The events windowed tasks count, by task kind, span and cycle (`window_key`)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = LabelScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "mission progress"

    def __str__(self) -> str:
        return f"{len(self.runs)} open run(s)"


class MissionOpenDelta(models.Model):
    """Changes to how many runs of a mission are open without a row (see `MissionProgress`), by cycle: the pipeline
    inserts one row per mission, cycle and batch that opened or closed some (never updates one, so workers never wait
    on each other); the missed-runs beat folds each mission's rows into one per cycle and drops the cycles that are
    over (their runs are missed). The admin's "In progress" adds their sum to the open rows."""

    mission = models.ForeignKey(Mission, on_delete=models.CASCADE, related_name="+")
    cycle = models.CharField(max_length=16, blank=True, default="", help_text="Recurring: the cycle's date.")
    delta = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.mission_id}: {self.delta:+d}"


class TaskContribution(models.Model):
    """One event counted by a windowed task of an open run: a read-only view over the players' `MissionProgress`
    documents (the table it replaces was written once per event; migration 0010)."""

    player_mission = models.ForeignKey(PlayerMission, on_delete=models.DO_NOTHING, related_name="contributions")
    task = models.ForeignKey(MissionTask, on_delete=models.DO_NOTHING, related_name="+")
    event = models.ForeignKey("crm.Event", on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    amount = models.DecimalField(max_digits=20, decimal_places=4, help_text="1 for a count, the field for a sum.")
    occurred_at = models.DateTimeField()

    class Meta:
        managed = False
        db_table = "gamification_taskcontribution"

    def __str__(self) -> str:
        return f"{self.amount} from event {self.event_id}"
