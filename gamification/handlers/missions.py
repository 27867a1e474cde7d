"""Mission progress on the event pipeline: events that match a task of an active mission count toward the player's run.

Runs inside the group's transaction for every micro-batch, at a few statements per batch whatever its size:
- the label's active missions, tasks and compiled conditions are cached in-process (`mission_config`);
- an event of a type no task or unlock listens to is skipped without touching the database;
- an event is tested, and its amount worked out, once per kind of task (event type, conditions, counted value), and
  adds to the player's counter of that kind (per day for recurring missions): every task without a window of every
  mission counts on it, its progress being the counter less the counter's value when its run started counting. So
  an event moves one or two counters, not every run of every mission on it; runs are settled once per batch, in
  memory, and a run's entry is rewritten only when it starts, completes, or leaves out events its counter counted
  (before an opt-in, past a time limit or the mission's dates, outside its audience). Windowed tasks count on their
  run, event by event;
- progress is written as ONE row per player (`MissionProgress`: the player's counters and open runs), in one
  statement for every player of the batch; a run's own row (`PlayerMission`) is written only when its state changes
  (a run starts, completes, or counts its first event after an opt-in or unlock), in one statement per kind. A run of
  a mission that counts without rows (`mission_counts_without_rows`) has neither entry nor row until it completes:
  its progress is its counters from 0, and the batch reads nothing of it while it stays below its targets;
- the rewards of the runs completed are given in bulk (`gamification.services.rewards`).
Players in the control group, and players whose account is not ACTIVE when their label's `active_players_only` is
on, make no progress and unlock nothing. Money is seen in the label's base currency, converted at the rate of the
event's day (`backoffice.fx`) from the player's wallet currency (the base currency while it is unknown), or from the
event's own `currency` field: a sum of a money field adds the converted amount, and conditions on a money field
(`bet_amount >= 1`) compare it. An amount with no rate counts for nothing and meets no condition (logged by currency,
once per batch).

An event reaches the handlers once per group (its position commits with the progress); a windowed task also keeps
the ids of what its window holds, so an event handed over twice still counts once. Within one batch a run progresses
once: events past a run's completion in the same batch do not start the next run of a mission recurring on
completion. The documents are read without a lock and written with a guard on the version read: when a concurrent
writer changed one (per-player partitions rule out another worker; the missed-runs beat can), the label's events are
counted again from a fresh read, in a savepoint (`ProgressConflict` after three attempts: the pipeline's retry).
"""

from __future__ import annotations

import bisect
import datetime as dt
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import orjson
import structlog
from django.db import connection, transaction
from django.utils import timezone

from backoffice.fx import RateBook, rate_book
from crm.models.players import AccountStatus
from crm.pipeline import EventRow, handler
from crm.selectors import gamification_players
from gamification.facts import LEVEL_CHANGED, facts_batched
from gamification.handlers.mission_config import MONEY_BY_TYPE, Group, LabelMissions, Task, missions_config
from gamification.models import Mission, MissionType, progress_key, progress_text
from gamification.models.missions import counter_counts_from_zero
from gamification.services.audience import audience_members
from gamification.services.missions import (
    DONE_STATES,
    OPEN_STATES,
    mission_current_run,
    mission_cycle,
    mission_is_open,
    mission_level_unlocks,
    mission_scheduled,
    mission_unlock_holds,
    missions_completed,
)

log = structlog.get_logger(__name__)


ATTEMPTS = 3
STALE_DAYS = 2  # counters of recurring days this many days before today are dropped
_ZERO = Decimal(0)
_ONE = Decimal(1)


class ProgressConflict(RuntimeError):
    """A player's progress document changed between this batch's read and its write: what the attempt wrote is
    rolled back (to its savepoint) and the label's events are counted again from what is committed."""


@handler("missions", group="gamification", order=30)
def count_mission_progress(events: list[EventRow]) -> None:
    by_label: dict[int, list[EventRow]] = defaultdict(list)
    for event in events:
        by_label[event.label_id].append(event)
    with facts_batched():  # the batch's completions, rewards and badges: their facts in one ingest per label
        for label_id, label_events in by_label.items():
            conf = missions_config(label_id)
            relevant = [e for e in label_events if e.type in conf.listens]
            if relevant:
                _label_count(label_id, conf, relevant)


def _label_count(label_id: int, conf: LabelMissions, events: list[EventRow]) -> None:
    """One label's events, again from a fresh read when a concurrent writer (the missed-runs beat) changed one of
    the players' documents meanwhile. A conflict is found before any fact or reward is given, so the savepoint
    takes back everything the attempt did."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _Batch(label_id, conf, events).run()
            return
        except ProgressConflict:
            log.info("mission_progress_conflict", label_id=label_id, attempt=attempt)
            if attempt == ATTEMPTS:
                raise


def _number(value) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() and number > 0 else None


def _json(rows) -> str:
    """Rows as one JSON parameter: a long array binds far faster as one text than as SQL arrays built per element."""
    return orjson.dumps(rows).decode()


@dataclass(slots=True)
class _Tally:
    """What one player's events of the batch add to one of their counters: the counter's key, its value before the
    batch (set when the documents are read), the batch's total, and the events' times and amounts (to leave out those
    a run does not count)."""

    key: str
    cycle: str
    group: Group
    total: Decimal
    first: dt.datetime
    last: dt.datetime
    items: list[tuple[dt.datetime, Decimal]]
    before: Decimal = _ZERO

    def add(self, at: dt.datetime, amount: Decimal) -> None:
        self.total += amount
        self.items.append((at, amount))
        if at < self.first:
            self.first = at
        elif at > self.last:
            self.last = at

    def outside(self, since: dt.datetime | None, until: dt.datetime | None) -> Decimal:
        """What the batch's events before `since` or from `until` on added."""
        if (since is None or since <= self.first) and (until is None or self.last < until):
            return _ZERO
        return sum(
            (a for at, a in self.items if (since is not None and at < since) or (until is not None and at >= until)),
            _ZERO,
        )


class _Batch:
    """One label's events of one micro-batch."""

    def __init__(self, label_id: int, conf: LabelMissions, events: list[EventRow]) -> None:
        self.label_id, self.conf = label_id, conf
        self.currencies = self._eligible(events)  # player id -> wallet currency, for those who may progress
        self.events = [e for e in events if e.player_id in self.currencies]
        # Missions limited to a segment: its members among the batch's players, one statement per audience segment.
        self.audiences = audience_members(
            segment_ids={m.audience_id for m in conf.missions.values()}, player_ids=self.currencies
        )
        self._book: RateBook | None = None
        self._seen: dict[int, tuple[dict, dict | None]] = {}
        self._zone = ZoneInfo(conf.time_zone)
        self.unconverted: Counter[str] = Counter()

    def _eligible(self, events: list[EventRow]) -> dict[int, str]:
        """Control-group players, and players not ACTIVE when the label says so, make no progress, unlock nothing."""
        players = gamification_players(player_ids=(e.player_id for e in events))
        active_only = self.conf.active_players_only
        return {
            pk: p.wallet_currency
            for pk, p in players.items()
            if not p.control_group and (not active_only or p.account_status == AccountStatus.ACTIVE)
        }

    def in_audience(self, mission: Mission, player_id: int) -> bool:
        return mission.audience_id is None or player_id in self.audiences[mission.audience_id]

    def run(self) -> None:
        if not self.events:
            return
        self._unlock()
        tallies, matches = self._matches()
        if self.unconverted:
            log.info("mission_amount_without_rate", label_id=self.label_id, currencies=dict(self.unconverted))
        if not tallies and not matches:
            return
        counted = self._counted(tallies)
        keys = {key for key, _, _ in counted} | {(e.player_id, t.mission_id, c) for e, t, c, _ in matches}
        players = {player for player, _ in tallies} | {e.player_id for e, *_ in matches}
        state = _State.load(sorted(players), self.conf)
        state.tallies = tallies
        for (player_id, _), tally in tallies.items():
            tally.before = state.counter(player_id, tally.key)
        state.rows_load(sorted(keys - state.quiet(counted)), self.conf)
        runs = self._count(counted, matches, state)
        completed = _runs_save(self.label_id, runs)
        state.documents_save(self.label_id, runs, tallies, self._stale_before())
        _open_deltas_save(state.open_deltas)
        if completed:
            missions_completed(pm_ids=completed)

    # --- unlocks by event and by level -----------------------------------------------------------------------------
    def _unlock(self) -> None:
        pairs: set[tuple[int, int]] = set()
        level_ids = {e.payload.get("level_id") for e in self.events if e.type == LEVEL_CHANGED}
        points = _level_points(level_ids - {None}) if level_ids and self.conf.level_locked else {}
        for event in self.events:
            for mission, predicate in self.conf.unlocks_by_type.get(event.type, ()):
                if not self.in_audience(mission, event.player_id):
                    continue
                if mission_is_open(mission=mission, at=event.occurred_at) and predicate(self.seen(event)[0]):
                    pairs.add((event.player_id, mission.pk))
            if event.type == LEVEL_CHANGED and event.payload.get("level_id") in points:
                reached = points[event.payload["level_id"]]
                pairs.update(
                    (event.player_id, m.pk)
                    for m in self.conf.level_locked
                    if mission_level_unlocks(mission=m, level_points=reached) and self.in_audience(m, event.player_id)
                )
        if pairs:
            players, missions = zip(*sorted(pairs), strict=True)
            _unlock_rows(self.label_id, list(players), list(missions))

    # --- what each event adds to which counter, and which windowed task it counts toward ------------------------------
    def _matches(self) -> tuple[dict[tuple[int, str], _Tally], list[tuple[EventRow, Task, str, Decimal]]]:
        """Each event is tested, and its amount worked out, once per kind of task (`Group`): its amount goes to the
        player's counter of that kind (per day for recurring missions), and to the windowed tasks of that kind."""
        tallies: dict[tuple[int, str], _Tally] = {}
        matches = []
        for event in self.events:
            groups = self.conf.groups_by_type.get(event.type)
            if not groups:
                continue
            payload, money = self.seen(event)
            day = None
            for group in groups:
                if not group.first.predicate(payload):
                    continue
                amount = self._amount(group.first, event, payload, money)
                if amount is None:
                    continue
                at = event.occurred_at
                if group.plain:
                    self._tally(tallies, event.player_id, group, "", at, amount)
                if group.daily:
                    day = day or at.astimezone(self._zone).date().isoformat()
                    self._tally(tallies, event.player_id, group, day, at, amount)
                for task in group.windowed:
                    if not task.open_at(at) or not self.in_audience(task.mission, event.player_id):
                        continue
                    zone = self.conf.time_zone
                    cycle = mission_cycle(mission=task.mission, tz_name=zone, at=at) if task.recurring else ""
                    if cycle is not None:
                        matches.append((event, task, cycle, amount))
        return tallies, matches

    @staticmethod
    def _tally(tallies, player_id: int, group: Group, cycle: str, at: dt.datetime, amount: Decimal) -> None:
        key = f"{group.counter}:{cycle}"
        tally = tallies.get((player_id, key))
        if tally is None:
            tallies[(player_id, key)] = _Tally(key, cycle, group, amount, at, at, [(at, amount)])
        else:
            tally.add(at, amount)

    def _counted(self, tallies: dict[tuple[int, str], _Tally]) -> list[tuple[tuple[int, int, str], Task, _Tally]]:
        """(run key, task, tally) for each task without a window that a counter the batch moved may count for: the
        tasks of missions without cycles on the "" counters, of recurring missions scheduled that day on the day's."""
        counted: list[tuple[tuple[int, int, str], Task, _Tally]] = []
        scheduled: dict[tuple[int, str], bool] = {}
        for (player_id, _), tally in tallies.items():
            if not tally.cycle:
                counted.extend(((player_id, t.mission_id, ""), t, tally) for t in tally.group.plain)
                continue
            for task in tally.group.daily:
                on = scheduled.get((task.mission_id, tally.cycle))
                if on is None:
                    on = scheduled[(task.mission_id, tally.cycle)] = mission_scheduled(
                        mission=task.mission, day=dt.date.fromisoformat(tally.cycle)
                    )
                if on:
                    counted.append(((player_id, task.mission_id, tally.cycle), task, tally))
        return counted

    def _stale_before(self) -> str:
        """Counters of days before this one are dropped (a recurring run's cycle is missed when its day is over)."""
        today = timezone.now().astimezone(self._zone).date()
        return (today - dt.timedelta(days=STALE_DAYS)).isoformat()

    def seen(self, event: EventRow) -> tuple[dict, dict | None]:
        """The payload as tasks and unlocks see it: its money fields in the base currency (a field with no rate left
        out, so no condition on it is met), and those converted amounts (None: the payload is already in the base
        currency)."""
        if event.id in self._seen:
            return self._seen[event.id]
        fields = MONEY_BY_TYPE.get(event.type, ())
        currency = self._currency(event)
        seen: tuple[dict, dict | None] = (event.payload, None)
        if fields and currency != self.conf.base_currency:
            payload, money = dict(event.payload), {}
            for name in fields:
                value = payload.pop(name, None)
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                converted = self._to_base(Decimal(str(value)), currency, event)
                if converted is not None:
                    payload[name], money[name] = float(converted), converted
            if len(money) < sum(1 for name in fields if name in event.payload):
                self.unconverted[currency or "none"] += 1
            seen = (payload, money)
        self._seen[event.id] = seen
        return seen

    def _currency(self, event: EventRow) -> str:
        """The event's own `currency` field, else the player's wallet currency; a player whose wallet currency is not
        known yet (created by an event before their profile arrived) counts in the base currency, as before there
        were currencies, rather than making no progress until a sync."""
        own = event.payload.get("currency")
        if isinstance(own, str) and own:
            return own.upper()
        return self.currencies[event.player_id] or self.conf.base_currency

    def _to_base(self, value: Decimal, currency: str, event: EventRow) -> Decimal | None:
        if currency == self.conf.base_currency:
            return value
        if self._book is None:
            self._book = rate_book(label_id=self.label_id)  # once per batch and label, only when money is converted
        return self._book.to_base(value, currency, event.occurred_at)

    def _amount(self, task: Task, event: EventRow, payload: dict, money: dict | None) -> Decimal | None:
        """1 for a count; the field for a sum, money in the base currency (None: it does not count)."""
        if not task.sum_field:
            return _ONE
        if task.money and money is not None:
            converted = money.get(task.sum_field)
            return converted if converted is not None and converted > 0 else None
        value = _number(payload.get(task.sum_field))
        own = event.payload.get("currency")
        if value is None or task.money or not (isinstance(own, str) and own):
            return value
        converted = self._to_base(value, own.upper(), event)  # a custom type naming the currency of its amounts
        if converted is None:
            self.unconverted[own.upper()] += 1
        return converted if converted is not None and converted > 0 else None

    # --- the batch's progress, in memory ------------------------------------------------------------------------------
    def _count(self, counted, matches, state: _State) -> dict[tuple[int, int, str], _Run]:
        """Settle each run a counter moved, and add each windowed match to its run; return (player, mission, cycle) ->
        the run, for the runs that moved. What a run needs is worked out once per batch."""
        runs: dict[tuple[int, int, str], _Run | None] = {}

        def run_of(key, mission: Mission) -> _Run | None:
            if key in runs:
                return runs[key]
            run = runs[key] = state.run_of(key, mission, self.conf.tasks[mission.pk])
            return run

        for key, task, tally in counted:
            member = self.in_audience(task.mission, key[0])
            if key not in runs and member and state.below_target(key, task, tally):
                continue  # the run's progress is its counter's: nothing of it to write
            run = run_of(key, task.mission)
            if run is None:
                continue
            if not member:  # outside the mission's audience: a started run's start value moves past these events,
                run.tally(task, tally, tally.total)  # a run not started yet does not start
                continue
            since, until = task.opens_at, task.closes_at
            if run.opted is not None and (since is None or run.opted > since):
                since = run.opted
            if run.expires is not None and (until is None or run.expires < until):
                until = run.expires
            run.tally(task, tally, tally.outside(since, until))
        for event, task, cycle, amount in matches:
            run = run_of((event.player_id, task.mission_id, cycle), task.mission)
            if run is not None and not run.completed and run.counts_at(event.occurred_at):
                run.add(task, event, amount)
        moved = {}
        for key, run in runs.items():
            if run is None:
                continue
            if run.implicit:
                # Open without an entry or a row: written only when it completes (its row), or leaves out events its
                # counters counted (an entry with its start values, from then on).
                run.settle(state, always=True)
                if run.changed and any(run.values.values()):
                    run.moved = True  # it has progress to show: it gets its row with its entry
                if run.completed or run.changed:
                    moved[key] = run
            elif run.settle(state):
                moved[key] = run
        state.open_count(counted, runs)
        return moved


@dataclass(slots=True)
class _Window:
    """What a windowed task holds: [epoch seconds, amount (Decimal, or text as read), event id] by time, their ids and
    total. Adding an event costs a lookup, an append (an insertion when it is older than the newest) and dropping what
    fell out."""

    items: list[list]
    ids: set[int]
    total: Decimal

    def add(self, at: float, amount: Decimal, event_id: int, seconds: float) -> bool:
        """Hold the event unless it is held already; drop what is older than the newest less `seconds`."""
        if event_id in self.ids:
            return False
        item = [at, amount, event_id]
        if not self.items or at >= self.items[-1][0]:
            self.items.append(item)
        else:
            bisect.insort(self.items, item, key=_time)  # events may come out of order
        self.ids.add(event_id)
        self.total += amount
        dropped = bisect.bisect_left(self.items, self.items[-1][0] - seconds, key=_time)
        if dropped:
            for _, old, old_id in self.items[:dropped]:
                self.total -= old if isinstance(old, Decimal) else Decimal(old)
                self.ids.discard(old_id)
            del self.items[:dropped]
        return True

    def stored(self) -> list[list]:
        """As the document keeps it: amounts as text (those read stay as they were)."""
        return [[at, a if isinstance(a, str) else progress_text(a), e] for at, a, e in self.items]


def _time(item: list) -> float:
    return item[0]


@dataclass
class _Run:
    """One run the batch counts toward: its row (None before the run starts), its entry as read from the player's
    document (never changed: `stored` builds the new one), its tasks' start values on their counters, and the
    windowed tasks' values as Decimals while the batch counts."""

    player_id: int
    mission: Mission
    cycle: str
    number: int
    row_id: int | None
    row_state: str | None
    entry: dict
    tasks: list[Task]
    values: dict[str, Decimal]  # windowed tasks: as held; others: filled by `settle`
    remaining: set[str]  # the keys of the windowed tasks not done yet
    bases: dict[str, tuple[str, Decimal]]  # task key -> (counter key, its value when the run started counting it)
    opted: dt.datetime | None = None
    expires: dt.datetime | None = None
    moved: bool = False
    completed: bool = False
    changed: bool = False  # the entry needs writing (new, or a start value moved)
    implicit: bool = False  # open without an entry or a row (`MissionProgress`): its start values are 0
    _windows: dict[str, _Window] = field(default_factory=dict)  # windowed tasks touched: what they hold

    @classmethod
    def open(cls, key, mission: Mission, tasks: list[Task], number: int, entry: dict, **row) -> _Run:
        values = {k: Decimal(v) for k, v in entry.get("p", {}).items()}
        remaining = {t.key for t in tasks if t.window is not None and values.get(t.key, _ZERO) < t.target}
        bases = {k: (counter, Decimal(base)) for k, (counter, base, _) in entry.get("b", {}).items()}
        return cls(key[0], mission, key[2], number, entry=entry, tasks=tasks, values=values, remaining=remaining,
                   bases=bases, **row)  # fmt: skip

    def counts_at(self, at: dt.datetime) -> bool:
        """Opted in by then (when the mission needs it) and not past the time limit."""
        return (self.opted is None or at >= self.opted) and (self.expires is None or at < self.expires)

    def _base(self, task: Task, counter: str, now: Decimal) -> Decimal:
        """The start value of a task on its counter, set the first time the run counts on it: the counter's value
        `now` less what the entry shows the task has counted (an entry written before counters: its `p`)."""
        if task.key not in self.bases:
            self.bases[task.key] = (counter, now - self.values.pop(task.key, _ZERO))
            self.changed = True
        return self.bases[task.key][1]

    def tally(self, task: Task, tally: _Tally, left_out: Decimal) -> None:
        """The batch's events on the task's counter count for the run, less what the run does not count."""
        self._base(task, tally.key, tally.before)
        if left_out:
            counter, base = self.bases[task.key]
            self.bases[task.key] = (counter, base + left_out)
            self.changed = True
        if tally.total > left_out:
            self.moved = True

    def add(self, task: Task, event: EventRow, amount: Decimal) -> None:
        """Count `amount` toward a windowed task (nothing when the task is done, or its window already holds the
        event). What the player sees never exceeds the target: 3 of 3, never 5 of 3."""
        if task.key not in self.remaining:
            return  # a done task stays done, even when its window later holds less
        window = self._window(task.key)
        if not window.add(event.occurred_at.timestamp(), amount, event.id, task.window.total_seconds()):  # type: ignore[union-attr]
            return
        self.values[task.key] = min(window.total, task.target)
        self.moved = True
        if window.total >= task.target:
            self.remaining.discard(task.key)
            self._windows[task.key] = _Window([], set(), _ZERO)  # done: its window no longer matters
            self.completed = not self.remaining and all(t.window is not None for t in self.tasks)

    def _window(self, task_key: str) -> _Window:
        """What a windowed task holds, as a copy the batch changes (the document read stays as it was)."""
        if task_key not in self._windows:
            items = sorted(self.entry.get("w", {}).get(task_key, []), key=_time)  # amounts stay text until dropped
            total = sum((Decimal(item[1]) for item in items), _ZERO)
            self._windows[task_key] = _Window(items, {item[2] for item in items}, total)
        return self._windows[task_key]

    def settle(self, state: _State, always: bool = False) -> bool:
        """Every task's value once the batch is counted (a counter's value less the task's start value, at most the
        target) and whether the run completed; return whether the run moved (counted something, or its entry
        changed). A task the batch did not touch starts on its counter's value now. A run the document does not hold
        yet that counted nothing is left as it is: the start values it would keep are the counters' next time."""
        if not always and not self.moved and not (self.changed and "i" in self.entry):
            return False
        done = not self.remaining
        for task in self.tasks:
            if task.window is not None:
                continue
            counter = f"{task.counter}:{self.cycle}"
            now = state.counter_now(self.player_id, counter)
            value = min(max(now - self._base(task, counter, now), _ZERO), task.target)
            self.values[task.key] = value
            done = done and value >= task.target
        self.completed = self.completed or done
        return True

    def stored(self) -> dict:
        """The entry as the document keeps it: start values and windowed values as text, the row's id and times for
        the next batches."""
        entry: dict = {"r": self.number}
        windowed = {t.key for t in self.tasks if t.window is not None}
        if values := {k: progress_text(v) for k, v in self.values.items() if k in windowed}:
            entry["p"] = values
        if self.bases:
            targets = {t.key: t.target_text for t in self.tasks}
            entry["b"] = {k: [c, progress_text(b), targets[k]] for k, (c, b) in self.bases.items() if k in targets}
        windows = {k: held for k, held in self.entry.get("w", {}).items() if held and k not in self._windows}
        windows |= {k: w.stored() for k, w in self._windows.items() if w.items}
        if windows:
            entry["w"] = windows
        if self.row_id is not None:
            entry["i"] = self.row_id
        if self.opted is not None:
            entry["o"] = self.opted.timestamp()
        if self.expires is not None:
            entry["x"] = self.expires.timestamp()
        return entry

    def needs_write(self) -> bool:
        """Whether its entry must be written: new, its start values or windows changed, or its row id is new."""
        return self.changed or bool(self._windows) or "i" not in self.entry


def _moment(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass
class _State:
    """What the batch's matches need, read before any write: the players' documents (with the version each was read
    at) and, for the runs a document does not hold and that may change state, the latest run row of each (player,
    mission, cycle) and what unlocks the locked missions."""

    conf: LabelMissions
    documents: dict[int, tuple[str | None, dict, dict, dict]] = field(default_factory=dict)  # player -> (version,
    # runs, counters, born)
    latest: dict = field(default_factory=dict)  # (player, mission, cycle) -> (id, run, state, opted, expires)
    any_row: set = field(default_factory=set)  # (player, mission) with a run in the loaded cycles
    done: set = field(default_factory=set)  # (player, mission) completed, for unlocks by mission
    level_points: dict = field(default_factory=dict)  # player -> required points of their level
    tallies: dict = field(default_factory=dict)  # (player, counter key) -> what the batch adds (`_Tally`)
    open_deltas: Counter = field(default_factory=Counter)  # (mission id, cycle) -> change in its runs open without a
    # row
    _implicit: dict = field(default_factory=dict)  # (player, mission, cycle) -> `implicit`, as read
    now: float = field(default_factory=time.time)  # when the batch's new counters are first written

    @classmethod
    def load(cls, players: list[int], conf: LabelMissions) -> _State:
        state = cls(conf)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT player_id, xmin::text, runs::text, counters::text, born::text"
                " FROM gamification_missionprogress WHERE player_id = ANY(%s)",
                [players],
            )
            state.documents = {
                p: (version, orjson.loads(runs), orjson.loads(counters), orjson.loads(born))
                for p, version, runs, counters, born in cursor.fetchall()
            }
        return state

    def quiet(self, counted) -> set[tuple[int, int, str]]:
        """The runs open without an entry or a row that the batch cannot complete (each of their counted tasks stays
        below its target) and that leave nothing out: nothing of them is read or written."""
        quiet, busy = set(), set()
        for key, task, tally in counted:
            if key in busy:
                continue
            if self.implicit(key) and self.below_target(key, task, tally):
                quiet.add(key)
            else:
                busy.add(key)
                quiet.discard(key)
        return quiet

    def rows_load(self, keys: list[tuple[int, int, str]], conf: LabelMissions) -> None:
        """The rows of the runs the documents do not hold (an entry the handler wrote carries its run's row id and
        times: that run is open, as completed and missed runs leave the document)."""
        wanted = [key for key in keys if not self._held(key)]
        if wanted:
            with connection.cursor() as cursor:
                self._rows_load(cursor, wanted, [conf.missions[m] for m in {m for _, m, _ in wanted}])

    def counter(self, player_id: int, key: str) -> Decimal:
        """A counter's value as read (0 when the player has none yet)."""
        document = self.documents.get(player_id)
        value = document[2].get(key) if document else None
        return Decimal(value) if value is not None else _ZERO

    def counter_now(self, player_id: int, key: str) -> Decimal:
        """A counter's value once the batch is counted."""
        tally = self.tallies.get((player_id, key))
        return tally.before + tally.total if tally is not None else self.counter(player_id, key)

    def implicit(self, key: tuple[int, int, str]) -> bool:
        """Whether the player's run of the mission is open without an entry or a row (`MissionProgress`): the mission
        counts without rows, the document holds no entry of it, and each counter its tasks count on is new or was
        first written since `mission_implicit_since`. Such a run that has completed has a row (read when the batch
        moves one of its counters to or past a target: `below_target` is then false). A counter new in this batch
        is first written now."""
        player_id, mission_id, cycle = key
        since = self.conf.implicit.get(mission_id)
        if since is None or self.now < since:
            return False
        found = self._implicit.get(key)
        if found is None:
            document = self.documents.get(player_id)
            found = document is None or (
                progress_key(mission_id, cycle) not in document[1]
                and all(
                    counter_counts_from_zero(document[2], document[3], f"{t.counter}:{cycle}", since)
                    for t in self.conf.tasks[mission_id]
                )
            )
            self._implicit[key] = found
        return found

    def below_target(self, key: tuple[int, int, str], task: Task, tally: _Tally) -> bool:
        """Whether the run counts every one of the batch's events on the task's counter from its start value (the
        document's entry, or 0 for a run open without one) and the task stays below its target: then the run cannot
        complete in this batch, its entry and row stay as they are, and it need not be looked at (most runs, most
        batches)."""
        first, last = tally.first, tally.last
        if (task.opens_at is not None and task.opens_at > first) or (
            task.closes_at is not None and last >= task.closes_at
        ):
            return False
        document = self.documents.get(key[0])
        entry = document[1].get(progress_key(key[1], key[2])) if document else None
        if entry is None:
            return self.implicit(key) and tally.before + tally.total < task.target
        if "i" not in entry:
            return False
        base = entry.get("b", {}).get(task.key)
        if base is None:
            return False
        opted, expires = _moment(entry.get("o")), _moment(entry.get("x"))
        if (opted is not None and opted > first) or (expires is not None and last >= expires):
            return False
        return tally.before + tally.total - Decimal(base[1]) < task.target

    def open_count(self, counted, runs: dict) -> None:
        """How the batch changed each mission's count of runs open without a row (`MissionOpenDelta`): a run opens
        when one of its counters first moves, and closes when it completes or gets an entry."""
        seen = set()
        for key, _, _ in counted:
            player_id, mission_id, cycle = key
            if key in seen or not self.implicit(key):
                continue
            seen.add(key)
            tasks = self.conf.tasks[mission_id]
            was_open = any(self.counter(player_id, f"{t.counter}:{cycle}") for t in tasks)
            if key in runs:
                run = runs[key]
                if run is None or not run.implicit:
                    continue  # finished before this batch, or a later run of a mission recurring on completion
                now_open = not run.completed and not run.changed
            else:
                now_open = True  # below its targets, left as it is
            self.open_deltas[(mission_id, cycle)] += int(now_open) - int(was_open)

    def _held(self, key: tuple[int, int, str]) -> bool:
        """Whether the player's document holds this run with its row's id (so its row need not be read)."""
        player_id, mission_id, cycle = key
        document = self.documents.get(player_id)
        entry = document[1].get(progress_key(mission_id, cycle)) if document else None
        return entry is not None and "i" in entry

    def _rows_load(self, cursor, wanted: list[tuple[int, int, str]], missions: list[Mission]) -> None:
        cursor.execute(
            "SELECT DISTINCT ON (pm.player_id, pm.mission_id, pm.cycle) pm.player_id, pm.mission_id, pm.cycle,"
            " pm.id, pm.run, pm.state, pm.opted_in_at, pm.expires_at"
            " FROM gamification_playermission pm JOIN (SELECT (r->>0)::bigint AS p, (r->>1)::bigint AS m,"
            " r->>2 AS c FROM jsonb_array_elements(%s::jsonb) r) k"
            " ON pm.player_id = k.p AND pm.mission_id = k.m AND pm.cycle = k.c"
            " ORDER BY pm.player_id, pm.mission_id, pm.cycle, pm.run DESC",
            [_json(wanted)],
        )
        for player_id, mission_id, cycle, *row in cursor.fetchall():
            self.latest[(player_id, mission_id, cycle)] = tuple(row)
            self.any_row.add((player_id, mission_id))
        players = sorted({p for p, _, _ in wanted})
        locked = [m for m in missions if m.type == MissionType.LOCKED]
        if any(m.unlock_mission_id for m in locked):
            cursor.execute(
                "SELECT DISTINCT player_id, mission_id FROM gamification_playermission WHERE player_id = ANY(%s)"
                " AND mission_id = ANY(%s) AND state = ANY(%s)",
                [players, list({m.unlock_mission_id for m in locked}), list(DONE_STATES)],
            )
            self.done = set(cursor.fetchall())
        if any(m.unlock_level_id for m in locked):
            cursor.execute(
                "SELECT w.player_id, l.required_points FROM gamification_wallet w"
                " JOIN gamification_level l ON l.id = w.level_id WHERE w.player_id = ANY(%s)",
                [players],
            )
            self.level_points = dict(cursor.fetchall())

    def unlocked(self, player_id: int, mission: Mission) -> bool:
        return mission_unlock_holds(
            mission=mission,
            has_run=(player_id, mission.pk) in self.any_row,
            unlock_mission_done=(player_id, mission.unlock_mission_id) in self.done,
            level_points=self.level_points.get(player_id),
        )

    def run_of(self, key: tuple[int, int, str], mission: Mission, tasks: list[Task]) -> _Run | None:
        """The run (player, mission, cycle) counts toward now, or None: locked, finished, not opted in..."""
        player_id, mission_id, cycle = key
        document = self.documents.get(player_id)
        entry = document[1].get(progress_key(mission_id, cycle)) if document else None
        if entry is not None and "i" in entry:
            row = {"row_id": entry["i"], "row_state": "in_progress"}
            times = {"opted": _moment(entry.get("o")), "expires": _moment(entry.get("x"))}
            return _Run.open(key, mission, tasks, entry["r"], entry, **row, **times)
        implicit = entry is None and self.implicit(key)
        if not self.unlocked(player_id, mission):
            return None
        row_id, number, row_state, opted, expires = self.latest.get(key, (None, None, None, None, None))
        current = mission_current_run(mission=mission, state=row_state, run=number)
        if current is None:
            return None
        if current == number:  # the existing run: open; opted in if it needs to be
            if mission.requires_opt_in and opted is None:
                return None
        elif mission.requires_opt_in:
            return None  # a new run starts with an opt-in
        else:
            row_id, row_state, opted, expires = None, None, None, None
        implicit = implicit and current == 1  # a later run counts from the counters' values when it started
        if entry is None or entry.get("r") != current:
            entry = {"r": current}
            if implicit:  # its progress is its counters' from 0
                entry["b"] = {t.key: [f"{t.counter}:{cycle}", "0", t.target_text] for t in tasks}
        row = {"row_id": row_id, "row_state": row_state}
        run = _Run.open(key, mission, tasks, current, entry, **row, opted=opted, expires=expires)
        run.implicit = implicit
        return run

    def documents_save(
        self, label_id: int, runs: dict[tuple[int, int, str], _Run], tallies: dict, stale_before: str
    ) -> None:
        """Write each player's document once: the counters the batch moved (with when each new one was first
        written), the entries of the runs that changed (completed runs leave it), stale day counters dropped; every
        other entry stays as it is (only what changed is sent). Guarded by the version read: a document another
        writer changed meanwhile (the missed-runs beat) fails the batch."""
        counters: dict[int, dict] = defaultdict(dict)
        born: dict[int, dict] = defaultdict(dict)
        for (player_id, key), tally in tallies.items():
            counters[player_id][key] = progress_text(tally.before + tally.total)
            document = self.documents.get(player_id)
            if document is None or key not in document[2]:
                born[player_id][key] = self.now
        moved: dict[int, dict] = defaultdict(dict)
        removed: dict[int, list[str]] = defaultdict(list)
        for (player_id, mission_id, cycle), run in sorted(runs.items(), key=lambda item: item[0]):
            if run.completed:
                removed[player_id].append(progress_key(mission_id, cycle))
            elif run.needs_write():
                moved[player_id][progress_key(mission_id, cycle)] = run.stored()
        players = sorted(counters.keys() | moved.keys() | removed.keys())
        existing, new = [], []
        for p in players:
            if p in self.documents:
                version, entries, read, _ = self.documents[p]
                stale = [key for key in _stale(read, entries, stale_before) if key not in counters.get(p, ())]
                existing.append(
                    [p, version, moved.get(p, {}), removed.get(p, []), counters.get(p, {}), stale, born.get(p, {})]
                )
            else:
                new.append([p, moved.get(p, {}), counters.get(p, {}), born.get(p, {})])
        with connection.cursor() as cursor:
            if existing:
                cursor.execute(
                    "UPDATE gamification_missionprogress AS d"
                    " SET runs = (d.runs - ARRAY(SELECT jsonb_array_elements_text(r->3))) || (r->2),"
                    " counters = (d.counters - ARRAY(SELECT jsonb_array_elements_text(r->5))) || (r->4),"
                    " born = (d.born - ARRAY(SELECT jsonb_array_elements_text(r->5))) || (r->6), updated_at = now()"
                    " FROM jsonb_array_elements(%s::jsonb) r"
                    " WHERE d.player_id = (r->>0)::bigint AND d.xmin::text = r->>1",
                    [_json(existing)],
                )
                if cursor.rowcount != len(existing):
                    raise ProgressConflict("A player's mission progress changed during the batch.")
            if new:
                cursor.execute(
                    "INSERT INTO gamification_missionprogress (player_id, label_id, runs, counters, born, updated_at)"
                    " SELECT (r->>0)::bigint, %s, r->1, r->2, r->3, now() FROM jsonb_array_elements(%s::jsonb) r"
                    " ON CONFLICT (player_id) DO NOTHING",
                    [label_id, _json(new)],
                )
                if cursor.rowcount != len(new):
                    raise ProgressConflict("A player's mission progress was created during the batch.")


def _stale(counters: dict, entries: dict, before: str) -> list[str]:
    """The counters of recurring days before `before` (ISO dates compare as text) that no run of the document counts
    on any more (a run's cycle is missed when its day is over; until the beat marks it, its counter stays)."""
    old = [key for key in counters if (cycle := key.rpartition(":")[2]) and cycle < before]
    if not old:
        return []
    used = {base[0] for entry in entries.values() for base in entry.get("b", {}).values()}
    return [key for key in old if key not in used]


def _runs_save(label_id: int, runs: dict[tuple[int, int, str], _Run]) -> list[int]:
    """Write the runs whose state changed, one statement per kind: new runs (inserted with their state; their ids go
    into the document), and existing ones that now count (available -> in progress) or are done. A completed run
    whose mission needs no claim is written claimed at once (its rewards follow in `missions_completed`). Return the
    ids of the runs completed."""
    inserts, updates = [], []
    for run in runs.values():
        if not run.moved and not run.completed:
            continue  # only its entry changed
        state = "in_progress"
        if run.completed:
            state = "completed" if run.mission.claim_required else "claimed"
        final = {k: progress_text(v) for k, v in run.values.items()} if run.completed else {}
        if run.row_id is None:
            locked = run.mission.type == MissionType.LOCKED
            inserts.append([run.player_id, run.mission.pk, run.cycle, run.number, locked, final, state])
        elif run.completed or run.row_state != "in_progress":
            updates.append([run.row_id, final, state])
    completed = []
    with connection.cursor() as cursor:
        if inserts:
            cursor.execute(
                "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state,"
                " progress, unlocked_at, completed_at, claimed_at, created_at, updated_at)"
                " SELECT %s, (r->>0)::bigint, (r->>1)::bigint, r->>2, (r->>3)::int, r->>6, r->5,"
                " CASE WHEN (r->>4)::bool THEN now() END, CASE WHEN r->>6 <> 'in_progress' THEN now() END,"
                " CASE WHEN r->>6 = 'claimed' THEN now() END, now(), now()"
                " FROM jsonb_array_elements(%s::jsonb) r"
                " ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING"
                " RETURNING player_id, mission_id, cycle, id, state",
                [label_id, _json(sorted(inserts))],
            )
            for player_id, mission_id, cycle, pm_id, state in cursor.fetchall():
                runs[(player_id, mission_id, cycle)].row_id = pm_id
                if state != "in_progress":
                    completed.append(pm_id)
        if updates:
            cursor.execute(
                "UPDATE gamification_playermission AS pm SET state = r->>2, progress = r->1,"
                " completed_at = CASE WHEN r->>2 <> 'in_progress' THEN now() END,"
                " claimed_at = CASE WHEN r->>2 = 'claimed' THEN now() END, updated_at = now()"
                " FROM jsonb_array_elements(%s::jsonb) r"
                " WHERE pm.id = (r->>0)::bigint AND pm.state IN ('available', 'in_progress') RETURNING pm.id, pm.state",
                [_json(sorted(updates))],
            )
            completed += [pm_id for pm_id, state in cursor.fetchall() if state != "in_progress"]
    return sorted(completed)


def _open_deltas_save(deltas: Counter) -> None:
    """One row per mission and cycle whose count of runs open without a row the batch changed (inserted, never
    updated)."""
    changed = sorted((key, delta) for key, delta in deltas.items() if delta)
    if changed:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO gamification_missionopendelta (mission_id, cycle, delta)"
                " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::int[])",
                [[m for (m, _), _ in changed], [c for (_, c), _ in changed], [d for _, d in changed]],
            )


def _level_points(level_ids: set) -> dict[int, int]:
    ids = [i for i in level_ids if isinstance(i, int)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, required_points FROM gamification_level WHERE id = ANY(%s)", [ids])
        return dict(cursor.fetchall())


def _unlock_rows(label_id: int, players: list[int], missions: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state, progress,"
            " unlocked_at, created_at, updated_at)"
            " SELECT %s, p, m, '', 1, 'available', '{}', now(), now(), now()"
            " FROM unnest(%s::bigint[], %s::bigint[]) AS u(p, m)"
            " ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING",
            [label_id, players, missions],
        )


__all__ = ["OPEN_STATES", "ProgressConflict", "count_mission_progress"]
