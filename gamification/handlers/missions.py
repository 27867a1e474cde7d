"""Mission progress on the event pipeline: events that match a task of an active mission count toward the player's run.

Runs inside the group's transaction for every micro-batch, at a few statements per batch whatever its size:
- the label's active missions, tasks and compiled conditions are cached in-process (`mission_config`);
- an event of a type no task or unlock listens to is skipped without touching the database;
- an event is tested, and its amount worked out, once per kind of task (event type, conditions, counted value), and
  adds to the player's counter of that kind (per day for recurring missions): every task without a window of every
  mission counts on it, its progress being the counter less the counter's value when its run started counting. So
  an event moves one or two counters, not every run of every mission on it; runs are settled once per batch, in
  memory, and a run's entry is rewritten only when it starts, completes, or leaves out events its counter counted
  (before an opt-in, past a time limit or the mission's dates, outside its audience). Likewise an event is added
  once to the player's window of its kind, span and cycle (the events within that span of the newest one), and
  every windowed task of that kind and span counts what the window holds, less the events its run leaves out (held
  before it started counting, before an opt-in, past a time limit): the window is replayed once per batch, and again
  only for a run that leaves out some of what it held;
- progress is written as ONE row per player (`MissionProgress`: the player's counters and open runs), in one
  statement for every player of the batch; a run's own row (`PlayerMission`) is written only when its state changes
  (a run starts, completes, or counts its first event after an opt-in or unlock), in one statement per kind. A run of
  a mission that counts without rows (`mission_counts_without_rows`) has neither entry nor row until it completes:
  its progress is its counters from 0 and what its windows hold, and the batch reads nothing of it while it stays
  below its targets;
- the rewards of the runs completed are given in bulk (`gamification.services.rewards`).
Players in the control group, and players whose account is not ACTIVE when their label's `active_players_only` is
on, make no progress and unlock nothing. Money is seen in the label's base currency, converted at the rate of the
event's day (`backoffice.fx`) from the player's wallet currency (the base currency while it is unknown), or from the
event's own `currency` field: a sum of a money field adds the converted amount, and conditions on a money field
(`bet_amount >= 1`) compare it. An amount with no rate counts for nothing and meets no condition (logged by currency,
once per batch).

An event reaches the handlers once per group (its position commits with the progress); a window also keeps the ids
of what it holds, so an event handed over twice still counts once. Within one batch a run progresses
once: events past a run's completion in the same batch do not start the next run of a mission recurring on
completion. The documents are read without a lock and written with a guard on the version read: when a concurrent
writer changed one (per-player partitions rule out another worker; the missed-runs beat can), the label's events are
counted again from a fresh read, in a savepoint (`ProgressConflict` after three attempts: the pipeline's retry).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
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
from gamification.models import Mission, MissionType, progress_key, progress_text, window_key, window_total
from gamification.models.missions import counted_on, counter_counts_from_zero
from gamification.services.audience import audience_members
from gamification.services.missions import (
    DONE_STATES,
    OPEN_STATES,
    mission_current_run,
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
        self._on: dict[tuple[int, str], bool] = {}

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
        tallies, moves = self._matches()
        if self.unconverted:
            log.info("mission_amount_without_rate", label_id=self.label_id, currencies=dict(self.unconverted))
        if not tallies and not moves:
            return
        players = sorted({player for player, _ in tallies} | {player for player, _ in moves})
        state = _State.load(players, self.conf)
        state.gates_load(players)
        state.tallies = tallies
        for (player_id, _), tally in tallies.items():
            tally.before = state.counter(player_id, tally.key)
        counted = self._counted(tallies, state)
        for (player_id, key), move in moves.items():
            move.replay(state.window(player_id, key))
        state.moves = moves
        windowed: list[tuple[tuple[int, int, str], Task, _Moves]] = []
        for (player_id, key), move in moves.items():
            look = state.window_at_a_glance(player_id, key, move)
            if self.conf.gated:
                look = state.gated_out(player_id, look)
            windowed.extend(((player_id, t.mission_id, move.cycle), t, move) for t in look)
        keys = {key for key, _, _ in counted} | {key for key, _, _ in windowed}
        state.rows_load(sorted(keys - state.quiet(counted, windowed)))
        runs = self._count(counted, windowed, state)
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
    def _matches(self) -> tuple[dict[tuple[int, str], _Tally], dict[tuple[int, str], _Moves]]:
        """Each event is tested, and its amount worked out, once per kind of task (`Group`): its amount goes to the
        player's counter of that kind (per day for recurring missions), and once to each window of that kind (per
        span and cycle) its windowed tasks count on."""
        tallies: dict[tuple[int, str], _Tally] = {}
        moves: dict[tuple[int, str], _Moves] = {}
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
                for span in group.spans:
                    if span.plain:  # one window for every task of missions without cycles
                        move = moves.get((event.player_id, span.key))
                        if move is None:
                            move = moves[(event.player_id, span.key)] = _Moves("", span.seconds, tasks=dict(span.plain))
                        move.add(event, amount)
                    for task in span.recurring:
                        cycle = day = day or at.astimezone(self._zone).date().isoformat()
                        if not self._scheduled(task, day):
                            continue
                        key = window_key(group.counter, task.window, cycle)  # type: ignore[arg-type]
                        move = moves.get((event.player_id, key))
                        if move is None:
                            move = moves[(event.player_id, key)] = _Moves(cycle, span.seconds)
                        move.add(event, amount)
                        move.tasks.setdefault(task.id, task)
        return tallies, moves

    @staticmethod
    def _tally(tallies, player_id: int, group: Group, cycle: str, at: dt.datetime, amount: Decimal) -> None:
        key = f"{group.counter}:{cycle}"
        tally = tallies.get((player_id, key))
        if tally is None:
            tallies[(player_id, key)] = _Tally(key, cycle, group, amount, at, at, [(at, amount)])
        else:
            tally.add(at, amount)

    def _counted(
        self, tallies: dict[tuple[int, str], _Tally], state: _State
    ) -> list[tuple[tuple[int, int, str], Task, _Tally]]:
        """(run key, task, tally) for each task without a window that a counter the batch moved may count for: the
        tasks of missions without cycles on the "" counters, of recurring missions scheduled that day on the day's;
        less those of locked and opt-in missions the player has no way into (`_State.gated_out`), and the runs
        settled at a glance (`_State.at_a_glance`)."""
        counted: list[tuple[tuple[int, int, str], Task, _Tally]] = []
        for (player_id, _), tally in tallies.items():
            cycle = tally.cycle
            tasks = tally.group.plain if not cycle else [t for t in tally.group.daily if self._scheduled(t, cycle)]
            if tally.group.gated:
                tasks = state.gated_out(player_id, tasks)
            counted.extend(
                ((player_id, t.mission_id, cycle), t, tally) for t in state.at_a_glance(player_id, tally, tasks)
            )
        return counted

    def _scheduled(self, task: Task, day: str) -> bool:
        """Whether the task's recurring mission has a cycle on `day` (an ISO date), once per mission and day."""
        on = self._on.get((task.mission_id, day))
        if on is None:
            on = self._on[(task.mission_id, day)] = mission_scheduled(
                mission=task.mission, day=dt.date.fromisoformat(day)
            )
        return on

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
    def _count(self, counted, windowed, state: _State) -> dict[tuple[int, int, str], _Run]:
        """Settle each run a counter or a window moved; return (player, mission, cycle) -> the run, for the runs that
        moved. What a run needs is worked out once per batch."""
        runs: dict[tuple[int, int, str], _Run | None] = {}

        def run_of(key, mission: Mission) -> _Run | None:
            if key in runs:
                return runs[key]
            run = runs[key] = state.run_of(key, mission, self.conf.tasks[mission.pk])
            return run

        below = state.below
        for n, (key, task, tally) in enumerate(counted):
            member = self.in_audience(task.mission, key[0])
            if key not in runs and member and below[n]:
                continue  # the run's progress is its counter's: nothing of it to write
            run = run_of(key, task.mission)
            if run is None:
                continue
            if not member:  # outside the mission's audience: a started run's start value moves past these events,
                run.tally(task, tally, tally.total)  # a run not started yet does not start
                continue
            run.tally(task, tally, tally.outside(*run.span(task)))
        for n, (key, task, move) in enumerate(windowed, len(counted)):
            member = self.in_audience(task.mission, key[0])
            if key not in runs and member and below[n]:
                continue  # open without an entry, below its target: what its window holds is its progress
            run = run_of(key, task.mission)
            if run is not None and not run.completed:
                run.window_count(task, move, member)
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
        state.open_count((*counted, *windowed), runs)
        return moved


@dataclass(slots=True)
class _Window:
    """The events within a window of its newest one: [epoch seconds, amount (Decimal, or text as read), event id] by
    time, their ids and total. Adding an event costs a lookup, an append (an insertion when it is older than the
    newest) and dropping what fell out."""

    items: list[list]
    ids: set[int]
    total: Decimal

    @classmethod
    def of(cls, items: list[list]) -> _Window:
        items = sorted(items, key=_time)  # amounts stay text until dropped
        return cls(items, {item[2] for item in items}, window_total(items))

    def add(self, at: float, amount: Decimal, event_id: int, seconds: float) -> list[list] | None:
        """Hold the event unless it is held already (None); drop what is older than the newest less `seconds` and
        return it (the event itself, when it is that old)."""
        if event_id in self.ids:
            return None
        item = [at, amount, event_id]
        if not self.items or at >= self.items[-1][0]:
            self.items.append(item)
        else:
            bisect.insort(self.items, item, key=_time)  # events may come out of order
        self.ids.add(event_id)
        self.total += amount
        dropped = bisect.bisect_left(self.items, self.items[-1][0] - seconds, key=_time)
        if not dropped:
            return []
        old = self.items[:dropped]
        del self.items[:dropped]
        for _, amount_held, old_id in old:
            self.total -= _amount(amount_held)
            self.ids.discard(old_id)
        return old

    def stored(self) -> list[list]:
        """As the document keeps it: amounts as text (those read stay as they were)."""
        return [[at, a if isinstance(a, str) else progress_text(a), e] for at, a, e in self.items]


def _amount(held) -> Decimal:
    return held if isinstance(held, Decimal) else Decimal(held)


@dataclass(slots=True)
class _Replay:
    """What one run counts of a window over the batch: the most it held at once (None: it counted nothing), what it
    held after the last event it counted, and the ids it leaves out."""

    peak: Decimal | None
    last: Decimal
    excluded: set[int]


def _replay(items: list[list], events: list, seconds: float, excluded: set[int], counts) -> tuple[_Window, _Replay]:
    """Add the batch's events (epoch seconds, amount, id) to a window holding `items`, in order; an event `counts`
    refuses (by its time) is left out, with those held whose ids are `excluded`."""
    window = _Window.of(items)
    out = sum((_amount(a) for _, a, i in window.items if i in excluded), _ZERO)
    result = _Replay(None, window.total - out, excluded)
    for at, amount, event_id in events:
        dropped = window.add(at, amount, event_id, seconds)
        if dropped is None:
            continue  # held already: an event counts once
        counted = counts is None or counts(at)
        if not counted:
            excluded.add(event_id)
            out += amount
        for _, amount_held, old_id in dropped:
            if old_id in excluded:
                out -= _amount(amount_held)
        if counted:
            result.last = window.total - out
            if result.peak is None or result.last > result.peak:
                result.peak = result.last
    return window, result


@dataclass(slots=True)
class _Moves:
    """A player's batch events on one window (a kind of task, a span, a cycle), the windowed tasks counting on it,
    and the window once they are added (`replay`: once per batch for every task on it)."""

    cycle: str
    seconds: float
    events: list[tuple[float, Decimal, int]] = field(default_factory=list)
    tasks: dict[int, Task] = field(default_factory=dict)
    _last: int | None = None
    initial: list[list] = field(default_factory=list)  # the window as read
    window: _Window | None = None  # as the batch leaves it
    shared: _Replay | None = None  # what a run that leaves nothing out counts
    first: float = 0.0  # the oldest and newest times the window held during the batch
    newest: float = 0.0
    held: set[int] = field(default_factory=set)  # every id the window held during the batch

    def add(self, event: EventRow, amount: Decimal) -> None:
        """The event, once however many of the window's tasks count it."""
        if self._last != event.id:
            self.events.append((event.occurred_at.timestamp(), amount, event.id))
            self._last = event.id

    def replay(self, items: list[list]) -> None:
        self.initial = items
        self.window, self.shared = _replay(items, self.events, self.seconds, set(), None)
        times = [item[0] for item in items] + [at for at, _, _ in self.events]
        self.first, self.newest = min(times), max(times)
        self.held = {item[2] for item in items} | {event_id for _, _, event_id in self.events}

    def counted_by(self, excluded: set[int], since: float | None, until: float | None, member: bool) -> _Replay:
        """What a run counts: the shared figures when it leaves nothing out, else its own replay."""
        plain = member and (since is None or self.first >= since) and (until is None or self.newest < until)
        if plain and not (excluded and excluded & self.held):
            assert self.shared is not None
            return _Replay(self.shared.peak, self.shared.last, set())

        def counts(at: float) -> bool:
            return member and (since is None or at >= since) and (until is None or at < until)

        return _replay(self.initial, self.events, self.seconds, set(excluded), counts)[1]


def _time(item: list) -> float:
    return item[0]


@dataclass
class _Run:
    """One run the batch counts toward: its row (None before the run starts), its entry as read from the player's
    document (never changed: `stored` builds the new one), its tasks' start values on their counters, and the
    windowed tasks' values as Decimals while the batch counts, with the ids of what their windows hold that they
    leave out."""

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
    window_moved: bool = False
    excluded: dict[str, set[int]] = field(default_factory=dict)  # windowed task key -> ids left out (as counted)

    @classmethod
    def open(cls, key, mission: Mission, tasks: list[Task], number: int, entry: dict, **row) -> _Run:
        values = {k: Decimal(v) for k, v in entry.get("p", {}).items()}
        remaining = {t.key for t in tasks if t.window is not None and values.get(t.key, _ZERO) < t.target}
        bases = {k: (counter, Decimal(base)) for k, (counter, base, _) in entry.get("b", {}).items()}
        return cls(key[0], mission, key[2], number, entry=entry, tasks=tasks, values=values, remaining=remaining,
                   bases=bases, **row)  # fmt: skip

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

    def span(self, task: Task) -> tuple[dt.datetime | None, dt.datetime | None]:
        """When the run counts the task's events: from the mission's start or the opt-in, whichever is later, until
        the mission's end or the time limit, whichever is sooner (None: no bound)."""
        since, until = task.opens_at, task.closes_at
        if self.opted is not None and (since is None or self.opted > since):
            since = self.opted
        if self.expires is not None and (until is None or self.expires < until):
            until = self.expires
        return since, until

    def _excluded(self, task: Task) -> set[int]:
        """The ids the windowed task leaves out of its window: as the batch counted them, else as its entry says."""
        excluded = self.excluded.get(task.key)
        if excluded is None:
            excluded = set(self.entry.get("k", {}).get(task.key, (None, ()))[1])
        return excluded

    def window_count(self, task: Task, move: _Moves, member: bool) -> None:
        """Count what the task's window holds over the batch, less what the run leaves out (held before it started
        counting, before its opt-in, past its time limit or the mission's dates; everything, outside the mission's
        audience). What the player sees never exceeds the target: 3 of 3, never 5 of 3; a done task stays done, even
        when its window later holds less."""
        if task.key not in self.remaining:
            return
        excluded = self._excluded(task)
        since, until = self.span(task)
        got = move.counted_by(
            excluded, since.timestamp() if since else None, until.timestamp() if until else None, member
        )
        if got.excluded - excluded:
            self.changed = True  # it now leaves out events the window holds: its entry says which
            excluded = got.excluded
        self.excluded[task.key] = excluded
        if got.peak is None:
            return
        self.moved = self.window_moved = True
        if got.peak >= task.target:
            self.values[task.key] = task.target
            self.remaining.discard(task.key)
            self.changed = self.changed or self.implicit  # done stays done: kept in an entry unless the run completes
        else:
            self.values[task.key] = got.last

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

    def stored(self, held) -> dict:
        """The entry as the document keeps it: start values and windowed values as text, what windowed tasks not done
        leave out of their windows (only ids the window still holds: `held(window key)`), the row's id and times for
        the next batches."""
        entry: dict = {"r": self.number}
        windowed = [t for t in self.tasks if t.window is not None]
        if values := {t.key: progress_text(self.values[t.key]) for t in windowed if t.key in self.values}:
            entry["p"] = values
        if self.bases:
            targets = {t.key: t.target_text for t in self.tasks}
            entry["b"] = {k: [c, progress_text(b), targets[k]] for k, (c, b) in self.bases.items() if k in targets}
        kept = {}
        for task in windowed:
            if task.key not in self.remaining:
                continue  # done: its window no longer matters
            key = window_key(task.counter, task.window, self.cycle)  # type: ignore[arg-type]
            kept[task.key] = [key, sorted(self._excluded(task) & held(key))]
        if windowed:
            entry["k"] = kept  # also when empty: an entry without it was written before windows were shared
        if self.row_id is not None:
            entry["i"] = self.row_id
        if self.opted is not None:
            entry["o"] = self.opted.timestamp()
        if self.expires is not None:
            entry["x"] = self.expires.timestamp()
        return entry

    def needs_write(self) -> bool:
        """Whether its entry must be written: new, its start values, windowed values or what it leaves out changed,
        or its row id is new."""
        return self.changed or self.window_moved or "i" not in self.entry


def _moment(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass
class _State:
    """What the batch's matches need, read before any write: the players' documents (with the version each was read
    at) and, for the runs a document does not hold and that may change state, the latest run row of each (player,
    mission, cycle) and what unlocks the locked missions."""

    conf: LabelMissions
    documents: dict[int, tuple[str | None, dict, dict, dict, dict]] = field(default_factory=dict)  # player ->
    # (version, runs, counters, born, windows)
    moves: dict = field(default_factory=dict)  # (player, window key) -> the batch's events on it (`_Moves`)
    rewritten: dict = field(default_factory=dict)  # player -> {progress key: entry} moved into shared windows
    merged: dict = field(default_factory=lambda: defaultdict(set))  # player -> window keys those entries added to
    latest: dict = field(default_factory=dict)  # (player, mission, cycle) -> (id, run, state, opted, expires)
    any_row: set = field(default_factory=set)  # (player, mission) with a run: of a gated mission in any cycle,
    # of another in the loaded cycles
    done: set = field(default_factory=set)  # (player, mission) completed, for unlocks by mission
    level_points: dict = field(default_factory=dict)  # player -> required points of their level
    tallies: dict = field(default_factory=dict)  # (player, counter key) -> what the batch adds (`_Tally`)
    open_deltas: Counter = field(default_factory=Counter)  # (mission id, cycle) -> change in its runs open without a
    # row
    _implicit: dict = field(default_factory=dict)  # (player, mission, cycle) -> `implicit`, as read
    _open: dict = field(default_factory=dict)  # (player, gated mission) -> `gate_open`, as read
    shut: set = field(default_factory=set)  # players no gated mission is open to (`gates_load`)
    gates_read: bool = False  # `gates_load` read what unlocks the locked missions, for every player of the batch
    below: list[bool] = field(default_factory=list)  # set by `quiet`
    now: float = field(default_factory=time.time)  # when the batch's new counters are first written

    @classmethod
    def load(cls, players: list[int], conf: LabelMissions) -> _State:
        state = cls(conf)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT player_id, xmin::text, runs::text, counters::text, born::text, windows::text"
                " FROM gamification_missionprogress WHERE player_id = ANY(%s)",
                [players],
            )
            state.documents = {
                p: (version, orjson.loads(runs), orjson.loads(counters), orjson.loads(born), orjson.loads(windows))
                for p, version, runs, counters, born, windows in cursor.fetchall()
            }
        if windowed := conf.windowed:  # entries of windowed missions written before windows were shared: no "k"
            for player_id, document in state.documents.items():
                keys = [k for k, e in document[1].items() if "k" not in e and int(k.partition(":")[0]) in windowed]
                if keys:
                    state._share_windows(player_id, document, keys)
        return state

    def _share_windows(self, player_id: int, document, keys: list[str]) -> None:
        """Move the events that entries written before windows were shared hold (`w`) into the shared windows, each
        such entry leaving out what it did not hold itself (an entry without `w` held nothing); written with the
        batch."""
        runs, windows = document[1], document[4]
        own: dict[str, dict[str, tuple[str, set]]] = {}
        for key in keys:
            entry, (mission_id, _, cycle) = runs[key], key.partition(":")
            values, held = entry.get("p", {}), entry.get("w", {})
            moved = own[key] = {}
            for task in self.conf.windowed[int(mission_id)]:
                if Decimal(values.get(task.key, "0")) >= task.target:
                    continue  # done: its window no longer matters
                window = window_key(task.counter, task.window, cycle)  # type: ignore[arg-type]
                items = held.get(task.key, [])
                if items:
                    shared = windows.setdefault(window, [])
                    ids = {item[2] for item in shared}
                    shared.extend(item for item in items if item[2] not in ids)
                    shared.sort(key=_time)
                    self.merged[player_id].add(window)
                moved[task.key] = (window, {item[2] for item in items})
        for key, moved in own.items():
            entry = {k: v for k, v in runs[key].items() if k != "w"}
            entry["k"] = {
                task_key: [window, sorted({item[2] for item in windows.get(window, [])} - ids)]
                for task_key, (window, ids) in moved.items()
            }
            runs[key] = entry
            self.rewritten.setdefault(player_id, {})[key] = entry

    def window(self, player_id: int, key: str) -> list[list]:
        """A window's items as read (`[]` when the player has none yet)."""
        document = self.documents.get(player_id)
        return document[4].get(key, []) if document else []

    def window_ids(self, player_id: int, key: str) -> set[int]:
        """The ids a window holds once the batch is counted."""
        move = self.moves.get((player_id, key))
        if move is not None and move.window is not None:
            return move.window.ids
        return {item[2] for item in self.window(player_id, key)}

    def window_quiet(self, key: tuple[int, int, str], task: Task, move: _Moves) -> bool:
        """Whether a run open without an entry or a row counts every event its window held in the batch and stays
        below its target: what the window holds is its progress, nothing of it to write."""
        if not self.implicit(key):
            return False
        if task.opens > move.first or move.newest >= task.closes:
            return False
        assert move.shared is not None
        return move.shared.peak is None or move.shared.peak < task.target

    def quiet(self, counted, windowed) -> set[tuple[int, int, str]]:
        """The runs open without an entry or a row that the batch cannot complete (each of their counted tasks stays
        below its target) and that leave nothing out: nothing of them is read or written."""
        quiet, busy = set(), set()
        self.below = []  # per part, in order: whether it leaves its run as it is (`below_target`, `window_quiet`)
        for key, task, part in (*counted, *windowed):
            below = self.below_target(key, task, part) if type(part) is _Tally else self.window_quiet(key, task, part)
            self.below.append(below)
            if key in busy:
                continue
            if below and self.implicit(key):
                quiet.add(key)
            else:
                busy.add(key)
                quiet.discard(key)
        return quiet

    def at_a_glance(self, player_id: int, tally: _Tally, tasks: list[Task]) -> list[Task]:
        """The tasks of `tasks` (on the tally's counter) whose runs need a closer look (`_glance`)."""
        first, last = tally.first.timestamp(), tally.last.timestamp()
        top = tally.before + tally.total
        return self._glance(player_id, tally.key, tasks, window=False, top=top, first=first, last=last,
                            cycle=tally.cycle)  # fmt: skip

    def window_at_a_glance(self, player_id: int, key: str, move: _Moves) -> list[Task]:
        """The windowed tasks counting on the player's window `key` whose runs need a closer look (`_glance`)."""
        assert move.shared is not None
        top, first, last = move.shared.peak, move.first, move.newest
        return self._glance(player_id, key, move.tasks.values(), window=True, top=top, first=first, last=last,
                            cycle=move.cycle)  # fmt: skip

    def _glance(
        self, player_id: int, key: str, tasks: Iterable[Task], *, window: bool, top: Decimal | None, first: float,
        last: float, cycle: str,
    ) -> list[Task]:  # fmt: skip
        """The tasks of `tasks`, all counting on the player's counter (or `window`) `key`, whose runs need a closer
        look. The others are the runs of missions with one task (`LabelMissions.solo`) that are open without an entry
        or a row and stay below their target: what `quiet` would find (`below_target`, `window_quiet`), seen from the
        counter or window alone (its value or peak once the batch is counted, `top`; the times of the batch's events
        on it, `first` and `last`), without a check per run. The runs this opens are counted here, as `open_count`
        would."""
        entries, present, born = {}, False, math.inf  # born: when the counter or window was first written
        document = self.documents.get(player_id)
        if document is not None:
            entries = document[1]
            if key in (document[4] if window else document[2]):
                present, born = True, document[3].get(key, 0)
        solo, now = self.conf.solo, self.now
        look = []
        for t in tasks:
            since = solo.get(t.mission_id)
            if (
                since is None
                or now < since
                or born < since  # the counter or window is older than the mission: the run has an entry, or a row
                or (top is not None and top >= t.target)
                or t.opens > first
                or last >= t.closes
                or progress_key(t.mission_id, cycle) in entries
            ):
                look.append(t)
            elif not present:  # the counter or window is new: the run opens
                self.open_deltas[(t.mission_id, cycle)] += 1
        return look

    def gates_load(self, players: list[int]) -> None:
        """What decides whether the batch's players may count toward the gated missions (`LabelMissions.gated`):
        which of those missions they have a run of (in any cycle), and for the locked ones what unlocks them: the
        unlock missions they completed, their level. Read once per batch for all its players, so the runs of gated
        missions a player has no way into are dropped before anything else looks at them (`gated_out`): most
        players, most batches, for missions that few unlock or opt into."""
        gated = self.conf.gated
        if not gated:
            return
        locked = [m for m in (self.conf.missions[pk] for pk in gated) if m.type == MissionType.LOCKED]
        with connection.cursor() as cursor:
            # Joined to the players: with `player_id = ANY(%s)` this statement took 15 ms per batch in
            # bench/gamification.py's measured run (cProfile; batches of about 1,900 events), the join 4 ms.
            cursor.execute(
                "SELECT DISTINCT pm.player_id, pm.mission_id FROM gamification_playermission pm"
                " JOIN unnest(%s::bigint[]) AS p(id) ON p.id = pm.player_id WHERE pm.mission_id = ANY(%s)",
                [players, sorted(gated)],
            )
            self.any_row.update(cursor.fetchall())
            self._unlocks_load(cursor, players, locked)
        self.gates_read = True
        # Players with no run of a gated mission, no completed unlock mission and a level below every unlock level:
        # no gated mission is open to them (`mission_unlock_holds`), whatever the mission.
        entering = {p for p, _ in self.any_row} | {p for p, _ in self.done}
        if levels := [m.unlock_level.required_points for m in locked if m.unlock_level is not None]:
            lowest = min(levels)
            entering.update(p for p, points in self.level_points.items() if points >= lowest)
        self.shut = set(players) - entering

    def gated_out(self, player_id: int, tasks: list[Task]) -> list[Task]:
        """`tasks` less those of gated missions that cannot count for the player (`gate_open`)."""
        gated = self.conf.gated
        if player_id in self.shut:
            return [t for t in tasks if t.mission_id not in gated]
        return [t for t in tasks if t.mission_id not in gated or self.gate_open(player_id, t.mission)]

    def gate_open(self, player_id: int, mission: Mission) -> bool:
        """Whether the player may count toward the gated `mission`: they have a run of it (`run_of` then finds which
        run counts, if any: a document's entry with a row id is such a run, as rows are never deleted), or it is
        locked without an opt-in and unlocked for them (`mission_unlock_holds`). When not, `run_of` would find no
        run: an opt-in mission starts with an opt-in (a row), a locked one with its unlock."""
        key = (player_id, mission.pk)
        found = self._open.get(key)
        if found is None:
            found = self._open[key] = key in self.any_row or (
                not mission.requires_opt_in and self.unlocked(player_id, mission)
            )
        return found

    def rows_load(self, keys: list[tuple[int, int, str]]) -> None:
        """The rows of the runs the documents do not hold (an entry the handler wrote carries its run's row id and
        times: that run is open, as completed and missed runs leave the document)."""
        wanted = [key for key in keys if not self._held(key)]
        if wanted:
            with connection.cursor() as cursor:
                self._rows_load(cursor, wanted, [self.conf.missions[m] for m in {m for _, m, _ in wanted}])

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
        found = self._implicit.get(key)
        if found is not None:
            return found
        player_id, mission_id, cycle = key
        since = self.conf.implicit.get(mission_id)
        if since is None or self.now < since:
            found = False
        else:
            document = self.documents.get(player_id)
            found = document is None or (
                progress_key(mission_id, cycle) not in document[1]
                and all(
                    counter_counts_from_zero(
                        document[2] if t.window is None else document[4],
                        document[3],
                        counted_on(t.counter, t.window, cycle),
                        since,
                    )
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

    def open_count(self, parts, runs: dict) -> None:
        """How the batch changed each mission's count of runs open without a row (`MissionOpenDelta`): a run opens
        when one of its counters or windows first moves, and closes when it completes or gets an entry."""
        seen = set()
        for key, _, _ in parts:
            player_id, mission_id, cycle = key
            if key in seen or not self.implicit(key):
                continue
            seen.add(key)
            document = self.documents.get(player_id)
            was_open = document is not None and any(  # a counter is never written at 0, a window never empty
                counted_on(t.counter, t.window, cycle) in (document[2] if t.window is None else document[4])
                for t in self.conf.tasks[mission_id]
            )
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
        if not self.gates_read:  # what unlocks the locked missions, for these players only
            locked = [m for m in missions if m.type == MissionType.LOCKED]
            self._unlocks_load(cursor, sorted({p for p, _, _ in wanted}), locked)

    def _unlocks_load(self, cursor, players: list[int], locked: list[Mission]) -> None:
        """The players' completed unlock missions and their levels' points, as far as `locked` unlock by them."""
        if unlock_missions := sorted({m.unlock_mission_id for m in locked if m.unlock_mission_id}):
            cursor.execute(
                "SELECT DISTINCT pm.player_id, pm.mission_id FROM gamification_playermission pm"
                " JOIN unnest(%s::bigint[]) AS p(id) ON p.id = pm.player_id"
                " WHERE pm.mission_id = ANY(%s) AND pm.state = ANY(%s)",
                [players, unlock_missions, list(DONE_STATES)],
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
            windowed = {t.key: window_key(t.counter, t.window, cycle) for t in tasks if t.window is not None}
            if implicit:  # its progress is its counters' from 0 and what its windows hold
                entry["b"] = {t.key: [f"{t.counter}:{cycle}", "0", t.target_text] for t in tasks if t.window is None}
                if windowed:
                    held = {k: window_total(self.window(player_id, w)) for k, w in windowed.items()}
                    targets = {t.key: t.target for t in tasks}
                    entry["p"] = {k: progress_text(min(v, targets[k])) for k, v in held.items()}
                    entry["k"] = {k: [w, []] for k, w in windowed.items()}
            elif windowed:  # it counts what its windows hold from now on
                entry["k"] = {k: [w, [item[2] for item in self.window(player_id, w)]] for k, w in windowed.items()}
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
        windows: dict[int, dict] = defaultdict(dict)
        for (player_id, key), move in self.moves.items():
            windows[player_id][key] = move.window.stored()
            document = self.documents.get(player_id)
            if document is None or key not in document[4]:
                born[player_id][key] = self.now
        for player_id, keys in self.merged.items():
            for key in keys - windows[player_id].keys():
                windows[player_id][key] = self.documents[player_id][4][key]
        moved: dict[int, dict] = defaultdict(dict)
        for player_id, entries in self.rewritten.items():
            moved[player_id].update(entries)
        removed: dict[int, list[str]] = defaultdict(list)
        for (player_id, mission_id, cycle), run in sorted(runs.items(), key=lambda item: item[0]):
            if run.completed:
                removed[player_id].append(progress_key(mission_id, cycle))
                moved[player_id].pop(progress_key(mission_id, cycle), None)
            elif run.needs_write():
                ids = functools.partial(self.window_ids, player_id)
                moved[player_id][progress_key(mission_id, cycle)] = run.stored(ids)
        players = sorted(counters.keys() | moved.keys() | removed.keys() | windows.keys())
        existing, new = [], []
        for p in players:
            written = windows.get(p, {})
            if p in self.documents:
                version, entries, read, _, kept = self.documents[p]
                stale = [key for key in _stale(read, entries, stale_before) if key not in counters.get(p, ())]
                stale += [key for key in _stale(kept, {}, stale_before) if key not in written]
                existing.append([p, version, moved.get(p, {}), removed.get(p, []), counters.get(p, {}), stale,
                                 born.get(p, {}), written])  # fmt: skip
            else:
                new.append([p, moved.get(p, {}), counters.get(p, {}), born.get(p, {}), written])
        with connection.cursor() as cursor:
            if existing:
                cursor.execute(
                    "UPDATE gamification_missionprogress AS d"
                    " SET runs = (d.runs - ARRAY(SELECT jsonb_array_elements_text(r->3))) || (r->2),"
                    " counters = (d.counters - ARRAY(SELECT jsonb_array_elements_text(r->5))) || (r->4),"
                    " born = (d.born - ARRAY(SELECT jsonb_array_elements_text(r->5))) || (r->6),"
                    " windows = (d.windows - ARRAY(SELECT jsonb_array_elements_text(r->5))) || (r->7),"
                    " updated_at = now()"
                    " FROM jsonb_array_elements(%s::jsonb) r"
                    " WHERE d.player_id = (r->>0)::bigint AND d.xmin::text = r->>1",
                    [_json(existing)],
                )
                if cursor.rowcount != len(existing):
                    raise ProgressConflict("A player's mission progress changed during the batch.")
            if new:
                cursor.execute(
                    "INSERT INTO gamification_missionprogress (player_id, label_id, runs, counters, born, windows,"
                    " updated_at) SELECT (r->>0)::bigint, %s, r->1, r->2, r->3, r->4, now()"
                    " FROM jsonb_array_elements(%s::jsonb) r"
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
