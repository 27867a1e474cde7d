"""Mission progress on the event pipeline: events that match a task of an active mission count toward the player's run.

Runs inside the pipeline's claim transaction for every micro-batch, so it must be cheap:
- the label's active missions, tasks and compiled conditions are cached in-process (`mission_config`);
- an event of a type no task or unlock listens to is skipped without touching the database;
- the writes of a batch are a few set-based statements (unnest arrays), never a query per event.
An event counts once per task and run: the pipeline hands it to the handlers once (its claim commits with the
progress). A windowed task keeps the events it counted as `TaskContribution` rows, unique on (run, task, event),
and only the rows actually inserted add. Within one batch a run progresses once:
events past a run's completion in the same batch do not start the next run of a mission recurring on completion.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import orjson
from django.db import connection
from django.utils import timezone

from crm.pipeline import EventRow, handler
from crm.selectors import control_group_player_ids
from gamification.facts import facts_batched
from gamification.handlers.mission_config import LEVEL_CHANGED, LabelMissions, Task, missions_config
from gamification.models import Mission, MissionType
from gamification.services.missions import (
    DONE_STATES,
    OPEN_STATES,
    mission_current_run,
    mission_cycle,
    mission_is_open,
    missions_completed,
)


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
                _Batch(label_id, conf, relevant).run()


def _amount(task: Task, payload: dict) -> Decimal | None:
    if not task.sum_field:
        return Decimal(1)
    value = payload.get(task.sum_field)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


class _Batch:
    """One label's events of one micro-batch."""

    def __init__(self, label_id: int, conf: LabelMissions, events: list[EventRow]) -> None:
        self.label_id, self.conf, self.now = label_id, conf, timezone.now()
        self.events = self._eligible(events)

    def _eligible(self, events: list[EventRow]) -> list[EventRow]:
        """Control-group players make no progress and unlock nothing."""
        control = control_group_player_ids(player_ids=(e.player_id for e in events))
        return [e for e in events if e.player_id not in control]

    def run(self) -> None:
        if not self.events:
            return
        self._unlock()
        matches = self._matches()
        if not matches:
            return
        runs = self._runs_load(matches)
        targets = self._targets(matches, runs)
        if not targets:
            return
        keys = {key for key, _ in targets.values()}
        rows = self._runs_lock(keys & runs.rows.keys(), runs.rows)
        born, completed = self._runs_start(keys - runs.rows.keys(), targets)
        rows |= self._runs_create(keys - runs.rows.keys() - born)
        added = self._contribute({match: t for match, t in targets.items() if t[0] not in born}, rows)
        completed += self._progress_save(rows, added)
        if completed:
            missions_completed(completed)

    # --- unlocks by event and by level -----------------------------------------------------------------------------
    def _unlock(self) -> None:
        pairs: set[tuple[int, int]] = set()
        level_ids = {e.payload.get("level_id") for e in self.events if e.type == LEVEL_CHANGED}
        points = _level_points(level_ids - {None}) if level_ids and self.conf.level_locked else {}
        for event in self.events:
            for mission, predicate in self.conf.unlocks_by_type.get(event.type, ()):
                if mission_is_open(mission, event.occurred_at) and predicate(event.payload):
                    pairs.add((event.player_id, mission.pk))
            if event.type == LEVEL_CHANGED and event.payload.get("level_id") in points:
                reached = points[event.payload["level_id"]]
                pairs.update(
                    (event.player_id, m.pk) for m in self.conf.level_locked if m.unlock_level.required_points <= reached
                )
        if pairs:
            players, missions = zip(*sorted(pairs), strict=True)
            _unlock_rows(self.label_id, list(players), list(missions))

    # --- which task of which run each event counts toward -----------------------------------------------------------
    def _matches(self) -> list[tuple[EventRow, Task, str, Decimal]]:
        matches = []
        for event in self.events:
            for task in self.conf.tasks_by_type.get(event.type, ()):
                if not task.open_at(event.occurred_at) or not task.predicate(event.payload):
                    continue
                cycle = mission_cycle(task.mission, self.conf.time_zone, event.occurred_at) if task.recurring else ""
                amount = _amount(task, event.payload)
                if cycle is not None and amount is not None:
                    matches.append((event, task, cycle, amount))
        return matches

    def _runs_load(self, matches) -> _Runs:
        """The latest run of each (player, mission, cycle) the batch's matches point at (a read, no lock yet)."""
        players = list({e.player_id for e, *_ in matches})
        missions = {t.mission_id: t.mission for _, t, *_ in matches}
        wanted = sorted({(e.player_id, t.mission_id, c) for e, t, c, _ in matches})
        runs = _Runs()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT ON (pm.player_id, pm.mission_id, pm.cycle) pm.id, pm.player_id, pm.mission_id,"
                " pm.cycle, pm.run, pm.state, pm.opted_in_at, pm.expires_at, pm.progress::text"
                " FROM gamification_playermission pm JOIN (SELECT (r->>0)::bigint AS p, (r->>1)::bigint AS m,"
                " r->>2 AS c FROM jsonb_array_elements(%s::jsonb) r) k"
                " ON pm.player_id = k.p AND pm.mission_id = k.m AND pm.cycle = k.c"
                " ORDER BY pm.player_id, pm.mission_id, pm.cycle, pm.run DESC",
                [_json(wanted)],
            )
            for pm_id, player_id, mission_id, cycle, run, state, opted, expires, text in cursor.fetchall():
                progress = orjson.loads(text)
                runs.rows[(player_id, mission_id, cycle, run)] = (pm_id, state, progress)
                runs.latest[(player_id, mission_id, cycle)] = (run, state, opted, expires, progress)
                runs.any_row.add((player_id, mission_id))
            locked = [m for m in missions.values() if m.type == MissionType.LOCKED]
            if any(m.unlock_mission_id for m in locked):
                cursor.execute(
                    "SELECT DISTINCT player_id, mission_id FROM gamification_playermission WHERE player_id = ANY(%s)"
                    " AND mission_id = ANY(%s) AND state = ANY(%s)",
                    [players, list({m.unlock_mission_id for m in locked}), list(DONE_STATES)],
                )
                runs.done = set(cursor.fetchall())
            if any(m.unlock_level_id for m in locked):
                cursor.execute(
                    "SELECT w.player_id, l.required_points FROM gamification_wallet w"
                    " JOIN gamification_level l ON l.id = w.level_id WHERE w.player_id = ANY(%s)",
                    [players],
                )
                runs.level_points = dict(cursor.fetchall())
        return runs

    def _targets(self, matches, runs: _Runs) -> dict:
        """(event, task) -> ((player, mission, cycle, run), amount) for the matches that count."""
        targets, locked, no_run = {}, self.conf.locked_ids, (None, None, None, None, {})
        for event, task, cycle, amount in matches:
            mission, mission_id = task.mission, task.mission_id
            if mission_id in locked and not runs.unlocked(event.player_id, mission):
                continue
            run, state, opted, expires, progress = runs.latest.get((event.player_id, mission_id, cycle), no_run)
            current = mission_current_run(mission, state, run)
            if current is None:
                continue
            if current == run:  # the existing run: open, opted in if needed, not expired, task not done yet
                if mission.requires_opt_in and (opted is None or event.occurred_at < opted):
                    continue
                if expires is not None and event.occurred_at >= expires:
                    continue
                if task.window is None and Decimal(progress.get(task.key, "0")) >= task.target:
                    continue
            elif mission.requires_opt_in:
                continue  # a new run starts with an opt-in
            targets[(event.id, task.id)] = ((event.player_id, mission_id, cycle, current), (event, task, amount))
        return targets

    # --- writes --------------------------------------------------------------------------------------------------
    def _runs_lock(self, keys: set[tuple[int, int, str, int]], rows: dict) -> dict:
        """Lock the existing runs the batch adds to, until commit, and read them again: progress is then added to
        what is committed. In id order, so workers never deadlock; a lock, not an update, so nothing is rewritten."""
        if not keys:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT player_id, mission_id, cycle, run, id, state, progress::text FROM gamification_playermission"
                " WHERE id IN (SELECT jsonb_array_elements_text(%s::jsonb)::bigint) ORDER BY id FOR NO KEY UPDATE",
                [_json(sorted(rows[key][0] for key in keys))],
            )
            return {tuple(row[:4]): (row[4], row[5], orjson.loads(row[6])) for row in cursor.fetchall()}

    def _runs_start(self, keys: set[tuple[int, int, str, int]], targets: dict) -> tuple[set, list[int]]:
        """Insert the new runs of missions without a windowed task with this batch's progress already counted (one
        write per run, no update after); return the keys inserted and the ids of those completed at once. A run
        another worker created meanwhile is left out: it takes the path of existing runs."""
        plain = {key for key in keys if key[1] not in self.conf.windowed_ids}
        if not plain:
            return set(), []
        sums: dict[tuple, dict[str, Decimal]] = defaultdict(dict)
        for key, (_, task, amount) in targets.values():
            if key in plain:
                sums[key][task.key] = sums[key].get(task.key, Decimal(0)) + amount
        values = []
        for key in sorted(plain):
            tasks, counted = self.conf.tasks[key[1]], sums[key]
            shown = {t.key: _text(min(counted[t.key], t.target)) for t in tasks if t.key in counted}
            done = all(counted.get(t.key, Decimal(0)) >= t.target for t in tasks)
            values.append([*key, key[1] in self.conf.locked_ids, shown, "completed" if done else "in_progress"])
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state,"
                " progress, unlocked_at, completed_at, created_at, updated_at)"
                " SELECT %s, (r->>0)::bigint, (r->>1)::bigint, r->>2, (r->>3)::int, r->>6, r->5,"
                " CASE WHEN (r->>4)::bool THEN now() END, CASE WHEN r->>6 = 'completed' THEN now() END, now(), now()"
                " FROM jsonb_array_elements(%s::jsonb) r"
                " ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING"
                " RETURNING player_id, mission_id, cycle, run, id, state",
                [self.label_id, _json(values)],
            )
            rows = cursor.fetchall()
        return {tuple(row[:4]) for row in rows}, [row[4] for row in rows if row[5] == "completed"]

    def _runs_create(self, keys: set[tuple[int, int, str, int]]) -> dict:
        """Create the runs that do not exist yet, empty: key -> (id, state, progress)."""
        if not keys:
            return {}
        ordered = sorted(keys)
        values = [[*key, self.conf.missions[key[1]].type == MissionType.LOCKED] for key in ordered]
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state,"
                " progress, unlocked_at, created_at, updated_at)"
                " SELECT %s, (r->>0)::bigint, (r->>1)::bigint, r->>2, (r->>3)::int, 'available', '{}',"
                " CASE WHEN (r->>4)::bool THEN now() END, now(), now() FROM jsonb_array_elements(%s::jsonb) r"
                " ON CONFLICT (mission_id, player_id, cycle, run) DO NOTHING"
                " RETURNING player_id, mission_id, cycle, run, id",
                [self.label_id, _json(values)],
            )
            created = {tuple(row[:4]): (row[4], "available", {}) for row in cursor.fetchall()}
            raced = [list(key) for key in ordered if key not in created]
            if raced:  # created by another worker since the load: take them as they are now
                cursor.execute(
                    "SELECT player_id, mission_id, cycle, run, id, state, progress::text"
                    " FROM gamification_playermission WHERE (player_id, mission_id, cycle, run) IN"
                    " (SELECT (r->>0)::bigint, (r->>1)::bigint, r->>2, (r->>3)::int"
                    "  FROM jsonb_array_elements(%s::jsonb) r)"
                    " ORDER BY id FOR NO KEY UPDATE",
                    [_json(raced)],
                )
                created |= {tuple(row[:4]): (row[4], row[5], orjson.loads(row[6])) for row in cursor.fetchall()}
        return created

    def _contribute(self, targets: dict, rows: dict) -> list[tuple[int, int, Decimal]]:
        """What each (run, task, event) adds: (run id, task id, amount).

        An event reaches the handlers once: the pipeline's claim (its `processed_at`) commits with the progress, so a
        count or a sum simply adds. A windowed task also needs the times of what it counted, so its events are kept
        as contributions, unique on (run, task, event), and only those actually inserted add.
        """
        added, values = [], []
        for key, (event, task, amount) in targets.values():
            pm_id, state, _ = rows[key]
            if state not in OPEN_STATES:  # a concurrent worker may have finished the run meanwhile
                continue
            if task.window is None:
                added.append((pm_id, task.id, amount))
            else:
                values.append((pm_id, task.id, event.id, str(amount), event.occurred_at))
        if not values:
            return added
        values.sort()
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO gamification_taskcontribution (player_mission_id, task_id, event_id, amount, occurred_at)"
                " SELECT (r->>0)::bigint, (r->>1)::bigint, (r->>2)::bigint, (r->>3)::numeric, (r->>4)::timestamptz"
                " FROM jsonb_array_elements(%s::jsonb) r"
                " ON CONFLICT (player_mission_id, task_id, event_id) DO NOTHING"
                " RETURNING player_mission_id, task_id, amount",
                [_json(values)],
            )
            return added + cursor.fetchall()

    def _progress_save(self, rows: dict, added: list[tuple[int, int, Decimal]]) -> list[int]:
        """Add the new contributions to the runs' progress, complete the runs whose tasks are all done."""
        if not added:
            return []
        by_id = {pm_id: (key, progress) for key, (pm_id, _, progress) in rows.items()}
        tasks = {t.id: t for ts in self.conf.tasks.values() for t in ts}
        windowed = {(pm, task) for pm, task, _ in added if tasks[task].window is not None}
        sums = _window_sums(windowed, tasks) if windowed else {}
        changed: dict[int, dict] = {}
        for pm_id, task_id, amount in added:
            progress = changed.setdefault(pm_id, dict(by_id[pm_id][1]))
            task = tasks[task_id]
            old = Decimal(progress.get(task.key, "0"))
            if old >= task.target:
                continue  # a done task stays done, even when its window later holds less
            new = sums.get((pm_id, task_id), Decimal(0)) if (pm_id, task_id) in windowed else old + amount
            progress[task.key] = _text(min(new, task.target))  # what the player sees: 3 of 3, never 5 of 3
        values, completed = [], []
        for pm_id, progress in sorted(changed.items()):
            mission_id = by_id[pm_id][0][1]
            done = all(Decimal(progress.get(t.key, "0")) >= t.target for t in self.conf.tasks[mission_id])
            values.append([pm_id, progress, "completed" if done else "in_progress"])
            if done:
                completed.append(pm_id)
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE gamification_playermission AS pm SET progress = r->1, state = r->>2,"
                " completed_at = CASE WHEN r->>2 = 'completed' THEN now() END, updated_at = now()"
                " FROM jsonb_array_elements(%s::jsonb) r WHERE pm.id = (r->>0)::bigint",
                [_json(values)],
            )
        return completed


@dataclass
class _Runs:
    rows: dict = field(default_factory=dict)  # (player, mission, cycle, latest run) -> (id, state, progress)
    latest: dict = field(default_factory=dict)  # (player, mission, cycle) -> (run, state, opted, expires, progress)
    any_row: set = field(default_factory=set)  # (player, mission) with a run in the loaded cycles
    done: set = field(default_factory=set)  # (player, mission) completed, for unlocks by mission
    level_points: dict = field(default_factory=dict)  # player -> required points of their level

    def unlocked(self, player_id: int, mission: Mission) -> bool:
        if mission.type != MissionType.LOCKED or (player_id, mission.id) in self.any_row:
            return True
        if mission.unlock_mission_id and (player_id, mission.unlock_mission_id) in self.done:
            return True
        reached = self.level_points.get(player_id)
        return bool(mission.unlock_level_id and reached is not None and reached >= mission.unlock_level.required_points)


def _json(rows: list) -> str:
    """Rows as one JSON parameter: a long array binds far faster as one text than as SQL arrays built per element."""
    return orjson.dumps(rows).decode()


def _text(value: Decimal) -> str:
    """A progress value as stored: `12.5`, `3` (no trailing zeros, no exponent)."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


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


def _window_sums(pairs: set[tuple[int, int]], tasks: dict[int, Task]) -> dict[tuple[int, int], Decimal]:
    """Sum of each (run, task)'s contributions within its window of the newest one."""
    rows = [[pm, task, tasks[task].window.total_seconds()] for pm, task in sorted(pairs)]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.pm, t.task, COALESCE(SUM(c.amount), 0) FROM (SELECT (r->>0)::bigint AS pm,"
            " (r->>1)::bigint AS task, (r->>2)::float * interval '1 second' AS win"
            " FROM jsonb_array_elements(%s::jsonb) r) t"
            " CROSS JOIN LATERAL (SELECT max(occurred_at) AS newest FROM gamification_taskcontribution"
            "   WHERE player_mission_id = t.pm AND task_id = t.task) n"
            " JOIN gamification_taskcontribution c ON c.player_mission_id = t.pm AND c.task_id = t.task"
            "   AND c.occurred_at >= n.newest - t.win"
            " GROUP BY t.pm, t.task",
            [_json(rows)],
        )
        return {(pm, task): total for pm, task, total in cursor.fetchall()}
