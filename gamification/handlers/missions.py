"""Mission progress on the event pipeline: events that match a task of an active mission count toward the player's run.

Runs inside the group's transaction for every micro-batch, at a few statements per batch whatever its size:
- the label's active missions, tasks and compiled conditions are cached in-process (`mission_config`);
- an event of a type no task or unlock listens to is skipped without touching the database;
- progress is written as ONE row per player (`MissionProgress`, a document of the player's open runs), in one
  statement for every player of the batch; a run's own row (`PlayerMission`) is written only when its state changes
  (a run starts, completes, or counts its first event after an opt-in or unlock), in one statement per kind;
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

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import orjson
import structlog
from django.db import connection, transaction

from backoffice.fx import RateBook, rate_book
from crm.models.players import AccountStatus
from crm.pipeline import EventRow, handler
from crm.selectors import gamification_players
from gamification.facts import LEVEL_CHANGED, facts_batched
from gamification.handlers.mission_config import MONEY_BY_TYPE, LabelMissions, Task, missions_config
from gamification.models import Mission, MissionType, progress_key
from gamification.services.audience import audience_members
from gamification.services.missions import (
    DONE_STATES,
    OPEN_STATES,
    mission_current_run,
    mission_cycle,
    mission_is_open,
    mission_level_unlocks,
    mission_unlock_holds,
    missions_completed,
)

log = structlog.get_logger(__name__)


ATTEMPTS = 3


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


def _text(value: Decimal) -> str:
    """A progress value as stored: `12.5`, `3` (no trailing zeros, no exponent)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _json(rows) -> str:
    """Rows as one JSON parameter: a long array binds far faster as one text than as SQL arrays built per element."""
    return orjson.dumps(rows).decode()


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
        matches = self._matches()
        if self.unconverted:
            log.info("mission_amount_without_rate", label_id=self.label_id, currencies=dict(self.unconverted))
        if not matches:
            return
        state = _State.load(self.label_id, matches, self.conf)
        runs = self._count(matches, state)
        if not runs:
            return
        completed = _runs_save(self.label_id, runs)
        state.documents_save(self.label_id, runs)
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

    # --- which task of which cycle each event counts toward, and by how much ------------------------------------------
    def _matches(self) -> list[tuple[EventRow, Task, str, Decimal]]:
        """Each event's tasks, with the cycle and amount it counts for. Tasks sharing a match key (same type,
        conditions and counted value) test the event and work out its amount once."""
        matches = []
        for event in self.events:
            amounts: dict[int, Decimal | None] = {}  # match key -> the amount the event counts (None: it does not)
            for task in self.conf.tasks_by_type.get(event.type, ()):
                if not task.open_at(event.occurred_at) or not self.in_audience(task.mission, event.player_id):
                    continue
                if task.match_key in amounts:
                    amount = amounts[task.match_key]
                else:
                    payload, money = self.seen(event)
                    amount = self._amount(task, event, payload, money) if task.predicate(payload) else None
                    amounts[task.match_key] = amount
                if amount is None:
                    continue
                cycle = (
                    mission_cycle(mission=task.mission, tz_name=self.conf.time_zone, at=event.occurred_at)
                    if task.recurring
                    else ""
                )
                if cycle is not None:
                    matches.append((event, task, cycle, amount))
        return matches

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
            return Decimal(1)
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
    def _count(self, matches, state: _State) -> dict[tuple[int, int, str], _Run]:
        """Add each match to its run; return (player, mission, cycle) -> the run, for the runs that moved. What a run
        needs is worked out once per batch; per match, only the event's time is checked and the amount added."""
        runs: dict[tuple[int, int, str], _Run | None] = {}
        for event, task, cycle, amount in matches:
            key = (event.player_id, task.mission_id, cycle)
            if key in runs:
                run = runs[key]
            else:
                run = runs[key] = state.run_of(key, task.mission, self.conf.tasks[task.mission_id])
            if run is not None and not run.completed and run.counts_at(event.occurred_at):
                run.add(task, event, amount)
        return {key: run for key, run in runs.items() if run is not None and run.moved}


_ZERO = Decimal(0)


@dataclass
class _Run:
    """One run the batch counts toward: its row (None before the run starts), its entry as read from the player's
    document (never changed: `stored` builds the new one), and the tasks' values as Decimals while the batch counts."""

    player_id: int
    mission: Mission
    cycle: str
    number: int
    row_id: int | None
    row_state: str | None
    entry: dict
    values: dict[str, Decimal]
    remaining: set[str]  # the keys of the tasks not done yet
    opted: dt.datetime | None = None
    expires: dt.datetime | None = None
    moved: bool = False
    completed: bool = False
    _windows: dict[str, list] = field(default_factory=dict)  # windowed tasks touched: what they hold, as Decimals

    @classmethod
    def open(cls, key, mission: Mission, tasks: list[Task], number: int, entry: dict, **row) -> _Run:
        values = {k: Decimal(v) for k, v in entry.get("p", {}).items()}
        remaining = {t.key for t in tasks if values.get(t.key, _ZERO) < t.target}
        return cls(key[0], mission, key[2], number, entry=entry, values=values, remaining=remaining, **row)

    def counts_at(self, at: dt.datetime) -> bool:
        """Opted in by then (when the mission needs it) and not past the time limit."""
        return (self.opted is None or at >= self.opted) and (self.expires is None or at < self.expires)

    def add(self, task: Task, event: EventRow, amount: Decimal) -> None:
        """Count `amount` toward the task (nothing when the task is done, or a windowed task already holds the
        event). What the player sees never exceeds the target: 3 of 3, never 5 of 3."""
        if task.key not in self.remaining:
            return  # a done task stays done, even when its window later holds less
        if task.window is None:
            value = self.values.get(task.key, _ZERO) + amount
        else:
            held = self._held(task.key)
            if any(item[2] == event.id for item in held):
                return
            held.append([event.occurred_at.timestamp(), amount, event.id])
            floor = max(item[0] for item in held) - task.window.total_seconds()
            held[:] = [item for item in held if item[0] >= floor]  # events may come out of order
            value = sum((item[1] for item in held), _ZERO)
        self.values[task.key] = min(value, task.target)
        self.moved = True
        if value >= task.target:
            self.remaining.discard(task.key)
            self._windows[task.key] = []  # done: its window no longer matters
            self.completed = not self.remaining

    def _held(self, task_key: str) -> list:
        """What a windowed task holds, as a copy the batch changes (the document read stays as it was)."""
        if task_key not in self._windows:
            read = self.entry.get("w", {}).get(task_key, [])
            self._windows[task_key] = [[at, Decimal(amount), event_id] for at, amount, event_id in read]
        return self._windows[task_key]

    def stored(self) -> dict:
        """The entry as the document keeps it: values as text, the row's id and times for the next batches."""
        entry = {"r": self.number, "p": {k: _text(v) for k, v in self.values.items()}}
        windows = {k: held for k, held in self.entry.get("w", {}).items() if held and k not in self._windows}
        windows |= {k: [[t, _text(a), e] for t, a, e in held] for k, held in self._windows.items() if held}
        if windows:
            entry["w"] = windows
        if self.row_id is not None:
            entry["i"] = self.row_id
        if self.opted is not None:
            entry["o"] = self.opted.timestamp()
        if self.expires is not None:
            entry["x"] = self.expires.timestamp()
        return entry


def _moment(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


@dataclass
class _State:
    """What the batch's matches need, read before any write: the players' documents (with the version each was read
    at) and, for the runs a document does not hold yet, the latest run row of each (player, mission, cycle) and what
    unlocks the locked missions."""

    documents: dict[int, tuple[str | None, dict]] = field(default_factory=dict)  # player -> (version, runs)
    latest: dict = field(default_factory=dict)  # (player, mission, cycle) -> (id, run, state, opted, expires)
    any_row: set = field(default_factory=set)  # (player, mission) with a run in the loaded cycles
    done: set = field(default_factory=set)  # (player, mission) completed, for unlocks by mission
    level_points: dict = field(default_factory=dict)  # player -> required points of their level

    @classmethod
    def load(cls, label_id: int, matches, conf: LabelMissions) -> _State:
        state = cls()
        players = sorted({e.player_id for e, *_ in matches})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT player_id, xmin::text, runs::text FROM gamification_missionprogress WHERE player_id = ANY(%s)",
                [players],
            )
            state.documents = {p: (version, orjson.loads(text)) for p, version, text in cursor.fetchall()}
            # An entry the handler wrote carries its run's row id and times: that run is open (completed and missed
            # runs leave the document), so its row need not be read.
            keys = {(e.player_id, t.mission_id, c) for e, t, c, _ in matches}
            wanted = sorted(key for key in keys if not state._held(key))
            if wanted:
                state._rows_load(cursor, wanted, [conf.missions[m] for m in {m for _, m, _ in wanted}])
        return state

    def _held(self, key: tuple[int, int, str]) -> bool:
        """Whether the player's document holds this run with its row's id (so its row need not be read)."""
        player_id, mission_id, cycle = key
        entry = self.documents.get(player_id, (None, {}))[1].get(progress_key(mission_id, cycle))
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
        entry = self.documents.get(player_id, (None, {}))[1].get(progress_key(mission_id, cycle))
        if entry is not None and "i" in entry:
            row = {"row_id": entry["i"], "row_state": "in_progress"}
            times = {"opted": _moment(entry.get("o")), "expires": _moment(entry.get("x"))}
            return _Run.open(key, mission, tasks, entry["r"], entry, **row, **times)
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
        if entry is None or entry.get("r") != current:
            entry = {"r": current, "p": {}}
        row = {"row_id": row_id, "row_state": row_state}
        return _Run.open(key, mission, tasks, current, entry, **row, opted=opted, expires=expires)

    def documents_save(self, label_id: int, runs: dict[tuple[int, int, str], _Run]) -> None:
        """Write each player's document once: the entries of the runs that moved are replaced, completed runs leave
        it, every other entry stays as it is (only what moved is sent). Guarded by the version read: a document
        another writer changed meanwhile (the missed-runs beat) fails the batch."""
        moved: dict[int, dict] = defaultdict(dict)
        removed: dict[int, list[str]] = defaultdict(list)
        for (player_id, mission_id, cycle), run in sorted(runs.items(), key=lambda item: item[0]):
            if run.completed:
                removed[player_id].append(progress_key(mission_id, cycle))
            else:
                moved[player_id][progress_key(mission_id, cycle)] = run.stored()
        players = sorted(moved.keys() | removed.keys())
        existing = [
            [p, self.documents[p][0], moved.get(p, {}), removed.get(p, [])] for p in players if p in self.documents
        ]
        new = [[p, moved.get(p, {})] for p in players if p not in self.documents]
        with connection.cursor() as cursor:
            if existing:
                cursor.execute(
                    "UPDATE gamification_missionprogress AS d"
                    " SET runs = (d.runs - ARRAY(SELECT jsonb_array_elements_text(r->3))) || (r->2), updated_at = now()"
                    " FROM jsonb_array_elements(%s::jsonb) r"
                    " WHERE d.player_id = (r->>0)::bigint AND d.xmin::text = r->>1",
                    [_json(existing)],
                )
                if cursor.rowcount != len(existing):
                    raise ProgressConflict("A player's mission progress changed during the batch.")
            if new:
                cursor.execute(
                    "INSERT INTO gamification_missionprogress (player_id, label_id, runs, updated_at)"
                    " SELECT (r->>0)::bigint, %s, r->1, now() FROM jsonb_array_elements(%s::jsonb) r"
                    " ON CONFLICT (player_id) DO NOTHING",
                    [label_id, _json(new)],
                )
                if cursor.rowcount != len(new):
                    raise ProgressConflict("A player's mission progress was created during the batch.")


def _runs_save(label_id: int, runs: dict[tuple[int, int, str], _Run]) -> list[int]:
    """Write the runs whose state changed, one statement per kind: new runs (inserted with their state; their ids go
    into the document), and existing ones that now count (available -> in progress) or are done. A completed run
    whose mission needs no claim is written claimed at once (its rewards follow in `missions_completed`). Return the
    ids of the runs completed."""
    inserts, updates = [], []
    for run in runs.values():
        state = "in_progress"
        if run.completed:
            state = "completed" if run.mission.claim_required else "claimed"
        final = {k: _text(v) for k, v in run.values.items()} if run.completed else {}
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
