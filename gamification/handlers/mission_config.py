"""The missions handler's view of a label's active missions and settings: tasks with their conditions compiled and
what matching reads of their mission per event, cached in-process for `CACHE_TTL` seconds (a change made elsewhere
takes effect within that; a status change made in this process clears it at once, `missions_cache_clear`)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import orjson

from backoffice.models import Label
from crm.catalogue import MONEY_FIELDS
from gamification.conditions import Predicate, conditions_compile
from gamification.facts import LEVEL_CHANGED
from gamification.models import Mission, MissionStatus, MissionTask, MissionType, progress_text
from gamification.models.missions import mission_counts_without_rows, mission_implicit_since, window_key

CACHE_TTL = 5.0
MONEY_BY_TYPE: dict[str, tuple[str, ...]] = {
    type_name: tuple(sorted(name for t, name in MONEY_FIELDS if t == type_name)) for type_name, _ in MONEY_FIELDS
}


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    key: str  # the id as progress keys it
    mission: Mission
    mission_id: int
    predicate: Predicate
    sum_field: str  # "" for a count
    money: bool  # the sum field is money: converted into the label's base currency
    target: Decimal
    target_text: str  # as run entries keep it
    window: dt.timedelta | None
    opens_at: dt.datetime | None  # the mission's start (`mission_is_open`, read once per cache load)
    closes_at: dt.datetime | None
    recurring: bool  # its cycle depends on the day (`mission_cycle`); otherwise ""
    # The kind of task: the same for every task with the same event type, conditions and counted value, in every
    # process. Tasks of a kind are tested once per event (`Group`; operators run many missions on the same task, e.g.
    # "bet 100" in several variants): those without a window count on the player's counter of this id and cycle,
    # windowed ones on the player's window of this id, span and cycle (`window_key`).
    counter: str = ""
    # `opens_at` and `closes_at` in epoch seconds, unbounded as infinities: what the glances compare event times with.
    opens: float = -math.inf
    closes: float = math.inf


@dataclass
class Group:
    """The tasks of a label of one kind (`Task.counter`): an event is tested and its amount worked out once for them.
    Tasks without a window count on the player's counter `counter` (`plain`: of missions without cycles; `daily`: of
    recurring missions, one counter per day); windowed ones on the player's window of the kind, span and cycle
    (`windowed`)."""

    first: Task  # any of them: the predicate and counted value they share
    counter: str
    plain: list[Task] = field(default_factory=list)
    daily: list[Task] = field(default_factory=list)
    windowed: list[Task] = field(default_factory=list)
    gated: bool = False  # some of its tasks are of missions in `LabelMissions.gated`
    spans: list[Span] = field(default_factory=list)  # `windowed` by span, as matching walks them


@dataclass
class Span:
    """The windowed tasks of a group with one span: those of missions without cycles count on one window of the
    player's (`key`), each event once for all of them; those of recurring missions on the window of the event's day."""

    seconds: float
    key: str  # `window_key` of the tasks without cycles
    plain: dict[int, Task] = field(default_factory=dict)
    recurring: list[Task] = field(default_factory=list)


@dataclass
class LabelMissions:
    time_zone: str = "UTC"
    active_players_only: bool = True  # the label's setting: players not ACTIVE make no progress
    base_currency: str = "EUR"  # the label's: money is compared and summed in it
    missions: dict[int, Mission] = field(default_factory=dict)
    tasks: dict[int, list[Task]] = field(default_factory=dict)  # mission id -> its tasks
    groups_by_type: dict[str, list[Group]] = field(default_factory=lambda: defaultdict(list))
    unlocks_by_type: dict[str, list[tuple[Mission, Predicate]]] = field(default_factory=lambda: defaultdict(list))
    level_locked: list[Mission] = field(default_factory=list)
    listens: frozenset[str] = frozenset()
    # Missions whose runs are open without an entry or a row (`mission_counts_without_rows`): the epoch seconds from
    # which a counter first written lets them count on it from 0 (`mission_implicit_since`).
    implicit: dict[int, float] = field(default_factory=dict)
    windowed: dict[int, list[Task]] = field(default_factory=dict)  # mission id -> its windowed tasks (if any)
    # Those of `implicit` with one task: whether such a run is open without an entry and stays below its target is
    # seen from its counter or window alone (`_State.at_a_glance`).
    solo: dict[int, float] = field(default_factory=dict)
    # Missions a player counts toward only once they have a run of it, or once it is unlocked for them: locked and
    # opt-in ones (`_State.gates_load`).
    gated: frozenset[int] = frozenset()


_cache: dict[int, tuple[float, LabelMissions]] = {}


def missions_cache_clear(label_id: int | None = None) -> None:
    """Forget the cached missions of a label (or of all labels) in this process."""
    if label_id is None:
        _cache.clear()
    else:
        _cache.pop(label_id, None)


def _load(label_id: int) -> LabelMissions:
    missions = list(
        Mission.objects.filter(label_id=label_id, status=MissionStatus.ACTIVE)
        .select_related("label", "unlock_level", "reward_badge")
        .prefetch_related("tasks")
    )
    conf = LabelMissions()
    settings = Label.objects.filter(pk=label_id).values_list("time_zone", "active_players_only", "base_currency")
    if found := settings.first():
        conf.time_zone, conf.active_players_only, conf.base_currency = found
    shared = _Shared()
    for mission in missions:
        conf.missions[mission.pk] = mission
        conf.tasks[mission.pk] = []
        for row in mission.tasks.all():
            task = _task(row, mission, shared)
            conf.tasks[mission.pk].append(task)
            group = shared.groups.get(task.counter)
            if group is None:
                group = shared.groups[task.counter] = Group(first=task, counter=task.counter)
                conf.groups_by_type[row.event_type].append(group)
            if task.window is not None:
                group.windowed.append(task)
            else:
                (group.daily if task.recurring else group.plain).append(task)
        if windowed := [t for t in conf.tasks[mission.pk] if t.window is not None]:
            conf.windowed[mission.pk] = windowed
        since = mission_implicit_since(mission=mission)
        if since is not None and mission_counts_without_rows(mission=mission):
            conf.implicit[mission.pk] = since
            if len(conf.tasks[mission.pk]) == 1:
                conf.solo[mission.pk] = since
        if mission.type == MissionType.LOCKED:
            if mission.unlock_event_type:
                predicate = conditions_compile(mission.unlock_event_conditions)
                conf.unlocks_by_type[mission.unlock_event_type].append((mission, predicate))
            if mission.unlock_level_id is not None:
                conf.level_locked.append(mission)
    conf.gated = frozenset(m.pk for m in missions if m.type == MissionType.LOCKED or m.requires_opt_in)
    for group in shared.groups.values():
        group.gated = any(t.mission_id in conf.gated for t in (*group.plain, *group.daily, *group.windowed))
        spans: dict[dt.timedelta, Span] = {}
        for task in group.windowed:
            assert task.window is not None
            span = spans.get(task.window)
            if span is None:
                span = spans[task.window] = Span(task.window.total_seconds(), window_key(task.counter, task.window, ""))
                group.spans.append(span)
            if task.recurring:
                span.recurring.append(task)
            else:
                span.plain[task.id] = task
    types = set(conf.groups_by_type) | set(conf.unlocks_by_type) | ({LEVEL_CHANGED} if conf.level_locked else set())
    conf.listens = frozenset(types)
    return conf


@dataclass
class _Shared:
    """What tasks of one load share: one compiled predicate per distinct conditions, one group per kind of task."""

    predicates: dict[bytes, Predicate] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)


def _task(task: MissionTask, mission: Mission, shared: _Shared) -> Task:
    """A task with what matching reads of its mission per event (missions loaded here are all active)."""
    conditions = orjson.dumps(task.conditions, option=orjson.OPT_SORT_KEYS)
    if conditions not in shared.predicates:
        shared.predicates[conditions] = conditions_compile(task.conditions)
    opens_at, closes_at = mission.active_from or mission.activated_at, mission.active_till
    return Task(
        id=task.pk, key=str(task.pk), mission=mission, mission_id=mission.pk,
        predicate=shared.predicates[conditions], sum_field=task.counted_field, money=task.counts_money,
        target=task.target,
        target_text=progress_text(task.target),
        window=task.window, opens_at=opens_at, closes_at=closes_at,
        recurring=mission.type == MissionType.RECURRING, counter=task.counter,
        opens=opens_at.timestamp() if opens_at is not None else -math.inf,
        closes=closes_at.timestamp() if closes_at is not None else math.inf,
    )  # fmt: skip


def missions_config(label_id: int) -> LabelMissions:
    now = time.monotonic()
    cached = _cache.get(label_id)
    if cached is None or cached[0] < now:
        cached = (now + CACHE_TTL, _load(label_id))
        _cache[label_id] = cached
    return cached[1]
