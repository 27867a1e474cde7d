"""Segments: save and delete, live membership (one SQL statement), and the tracked membership with its events.

Live questions ("which of these players are in S now", counts, lists) compile the segment's tree with
`crm.conditions.players_query` and run one statement: no rebuild, no cache. The *tracked* membership
(`crm_segmentmember`) is what entered/left events are computed against; it is kept by two writers that never race:

- `segments_track_batch` (the `crm` pipeline group's `segments` handler, after the profile, aggregates and roll-ups
  handlers): the batch's players only, one statement per segment (evaluate, diff, store the events);
- `segment_refresh` (beat, and after a save or an import): the whole segment, one statement (evaluate, diff in SQL,
  store the events). It takes the segment's advisory lock exclusively; the handler takes it shared, so handlers of
  different partitions (disjoint players) run together and a refresh waits for them, and they for it.

Each change is one `segment_entered` / `segment_left` event in the log, with a source id derived from what caused it
(the player's last event of the batch, or the refresh run), inserted with ON CONFLICT DO NOTHING: re-applying events
or a retried page can never store an event twice, and a rolled-back batch stores neither the change nor the event.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import structlog
from django.db import connection, transaction

from backoffice.db import prepared_fetchall
from backoffice.errors import DomainValidationError, Refused
from backoffice.models import Label
from crm.catalogue import SEGMENT_ENTERED, SEGMENT_LEFT
from crm.conditions import TreeError, players_query, tree_validate
from crm.models import EventSource, Segment, SegmentKind, SegmentStatus
from crm.models.segments import default_conditions
from crm.segment_users import _USERS, SegmentUse, register_segment_user  # noqa: F401 - the contract's name

log = structlog.get_logger(__name__)

LOCK_CLASS = 0x5E6  # the first key of the segments' advisory locks (pg_advisory_xact_lock(int, int))
SEGMENT_EVENT_TYPES = frozenset({SEGMENT_ENTERED, SEGMENT_LEFT})


# --- who uses a segment ---------------------------------------------------------------------------------------------
# Finders registered by other apps (rules...): crm.segment_users.register_segment_user(func), re-exported here.
def segment_uses(*, segment: Segment) -> list[SegmentUse]:
    """Everything that uses `segment`: other segments whose tree names it, missions, tournaments and store items
    limited to it (audience), and what registered finders report (rules...)."""
    uses: list[SegmentUse] = [("Segment", s) for s in segments_referring(segment=segment)]
    from gamification.models import Mission, StoreItem, Tournament  # gamification builds on crm, not the reverse

    for kind, model in (("Mission", Mission), ("Tournament", Tournament), ("Store item", StoreItem)):
        uses += [(kind, obj) for obj in model.objects.filter(audience=segment).order_by("pk")]
    for func in _USERS:
        uses += func(segment)
    return uses


def segments_referring(*, segment: Segment) -> list[Segment]:
    """The label's other segments whose condition tree has a `{"segment": <segment.pk>}` leaf."""
    return list(
        Segment.objects.filter(label_id=segment.label_id)
        .exclude(pk=segment.pk)
        .extra(
            where=["jsonb_path_exists(conditions, '$.** ? (@.segment == $id)', jsonb_build_object('id', %s::int))"],
            params=[segment.pk],
        )
        .order_by("name")
    )


class SegmentInUse(Refused):
    """The segment is used (by other segments, rules, missions...): delete those uses first."""

    default_code = "segment_in_use"

    def __init__(self, uses: list[SegmentUse]) -> None:
        self.uses = uses
        named = ", ".join(f"{kind} “{obj}”" for kind, obj in uses[:10])
        more = f" and {len(uses) - 10} more" if len(uses) > 10 else ""
        super().__init__(f"This segment is in use and cannot be deleted: used by {named}{more}.")


# --- save and delete ------------------------------------------------------------------------------------------------
_saving: contextvars.ContextVar[int | None] = contextvars.ContextVar("segment_saving", default=None)


def saving_segment_id() -> int | None:
    """The id of the segment whose tree is being validated (the segment leaf refuses a cycle back to it)."""
    return _saving.get()


@contextmanager
def validating_for(*, segment_id: int | None) -> Iterator[None]:
    """Validate a tree as the tree of `segment_id` (None: a new segment), so a leaf naming it back is a cycle."""
    token = _saving.set(segment_id)
    try:
        yield
    finally:
        _saving.reset(token)


def segment_conditions_check(*, label_id: int, conditions: Any, segment_id: int | None = None) -> None:
    """Raise DomainValidationError naming the tree's paths (`conditions.all[1].value`) when it is not valid."""
    with validating_for(segment_id=segment_id):
        try:
            tree_validate(conditions, label_id=label_id)
        except TreeError as exc:
            raise DomainValidationError(_prefixed(exc.errors)) from exc


def _prefixed(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    return {path if path.startswith("conditions") else f"conditions.{path}": msgs for path, msgs in errors.items()}


def segment_save(
    *,
    label: Label,
    name: str,
    kind: str = SegmentKind.CONDITIONS,
    conditions: Any = None,
    description: str = "",
    status: str = SegmentStatus.ACTIVE,
    segment: Segment | None = None,
    user=None,
) -> Segment:
    """Create (`segment` None) or change a segment; validate its tree through the condition engine (errors name the
    path). The tracked membership is recomputed after commit (the refresh task), which emits the events."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["This field is required."]
    elif Segment.objects.filter(label=label, name=name).exclude(pk=getattr(segment, "pk", None)).exists():
        errors["name"] = ["A segment of this label already has this name."]
    if kind not in SegmentKind.values:
        errors["kind"] = [f"One of: {', '.join(SegmentKind.values)}."]
    if segment is not None and segment.pk and kind != segment.kind:
        errors["kind"] = ["A segment's kind cannot change; create another segment."]
    if status not in SegmentStatus.values:
        errors["status"] = [f"One of: {', '.join(SegmentStatus.values)}."]
    if conditions is None:
        conditions = default_conditions() if kind == SegmentKind.CONDITIONS else {"all": []}
    if kind == SegmentKind.IMPORTED:
        conditions = {"all": []}  # an imported segment's members are its list
    elif not errors.get("kind"):
        try:
            segment_conditions_check(label_id=label.pk, conditions=conditions, segment_id=getattr(segment, "pk", None))
        except DomainValidationError as exc:
            errors.update(exc.errors)
    if errors:
        raise DomainValidationError(errors)
    with transaction.atomic():
        if segment is None:
            segment = Segment(label=label, created_by=user)
        segment.name, segment.kind, segment.conditions = name, kind, conditions
        segment.description, segment.status, segment.updated_by = description or "", status, user
        segment.save()
        segment_id = segment.pk
        transaction.on_commit(lambda: _refresh_later(segment_id))
    return segment


def _refresh_later(segment_id: int) -> None:
    from crm.tasks_segments import segment_refresh_task

    segment_refresh_task.delay(segment_id)


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment nothing uses; raise SegmentInUse naming the users otherwise. Its tracked membership goes
    with it (no segment_left events: the segment no longer exists for anyone to react to)."""
    with transaction.atomic():
        Segment.objects.select_for_update().filter(pk=segment.pk).first()
        uses = segment_uses(segment=segment)
        if uses:
            raise SegmentInUse(uses)
        segment.delete()


# --- live membership ------------------------------------------------------------------------------------------------
_compiling: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("segments_compiling", default=())


@contextmanager
def _compiling_segment(segment_id: int) -> Iterator[None]:
    """Guard a segment leaf's compilation against a cycle (validation refuses them; this keeps a bad row from
    recursing forever)."""
    stack = _compiling.get()
    if segment_id in stack:
        raise TreeError({"conditions": [f"Segment {segment_id} refers back to itself through its segment conditions."]})
    token = _compiling.set((*stack, segment_id))
    try:
        yield
    finally:
        _compiling.reset(token)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def segment_query(*, segment: Segment, now: dt.datetime | None = None) -> tuple[str, list]:
    """One SELECT of every member's player id (column `id`), live."""
    return _members_sql(segment, now or _now(), None)


def _members_sql(segment: Segment, now: dt.datetime, player_ids: list[int] | None, count: bool = False):
    if segment.kind == SegmentKind.IMPORTED:
        column = "count(*)" if count else "player_id AS id"
        sql = f"SELECT {column} FROM crm_segmentlistentry WHERE segment_id = %s"  # noqa: S608 - constant column
        params: list[Any] = [segment.pk]
        if player_ids is not None:
            sql += " AND player_id = ANY(%s::bigint[])"
            params.append(player_ids)
        return sql, params
    with _compiling_segment(segment.pk):
        return players_query(segment.conditions, label_id=segment.label_id, now=now, player_ids=player_ids, count=count)


# Compiled trees of live checks, by (segment, its updated_at), reused for COMPILE_TTL seconds: compiling a tree costs
# a few milliseconds (the label's settings, roll-up specs, named segments) where running it for one player costs a
# tenth of one. The answer stays live (the statement reads the data as it is); only the `now` that relative dates
# are computed from may be up to COMPILE_TTL old.
COMPILE_TTL = 1.0
_COMPILED: dict[tuple[int, Any], tuple[float, str, list]] = {}


# The statement is compiled narrowed to a stand-in list of ids (so every leaf, nested segments' included, reads the
# asked players by primary key: one row of running totals for a behaviour count) and the stand-in is replaced by the
# players asked at each call.
_IDS = [-(2**62)]  # no player has this id


def _compiled_members(segment: Segment) -> tuple[str, list]:
    key = (segment.pk, segment.updated_at)
    clock = time.monotonic()
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] > clock:
        return hit[1], hit[2]
    sql, params = _members_sql(segment, _now(), list(_IDS))
    if len(_COMPILED) > 1000:  # segments edited often: forget them all rather than grow
        _COMPILED.clear()
    _COMPILED[key] = (clock + COMPILE_TTL, sql, params)
    return sql, params


def _live_members_sql(segment: Segment, ids: list[int]) -> tuple[str, list]:
    """The members among `ids`, now, with the segment's compiled tree reused (see COMPILE_TTL)."""
    if segment.kind != SegmentKind.CONDITIONS:
        return _members_sql(segment, _now(), ids)
    members, members_params = _compiled_members(segment)
    return members, [ids if param == _IDS else param for param in members_params]


def segment_member_ids(*, segment: Segment, player_ids: Iterable[int], now: dt.datetime | None = None) -> set[int]:
    """Which of `player_ids` are in `segment` now: one SQL statement over those players only."""
    ids = sorted({int(pid) for pid in player_ids})
    if not ids:
        return set()
    if now is not None:
        sql, params = _members_sql(segment, now, ids)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return {row[0] for row in cursor.fetchall()}
    sql, params = _live_members_sql(segment, ids)
    # Prepared: planning the tree costs far more than running it for a few players by primary key (docs/segments.md
    # §8), and its text is the same at every call.
    return {row[0] for row in prepared_fetchall(sql, params)}


def segment_contains(*, segment: Segment, player_id: int, now: dt.datetime | None = None) -> bool:
    """Whether the player is in the segment now (live: the tree over this one player)."""
    return bool(segment_member_ids(segment=segment, player_ids=[player_id], now=now))


def segment_count(*, segment: Segment, now: dt.datetime | None = None) -> int:
    """How many players are in the segment now: one `count(*)` statement."""
    sql, params = _members_sql(segment, now or _now(), None, count=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def conditions_count(*, label_id: int, conditions: Any, now: dt.datetime | None = None) -> int:
    """The audience of a tree that is not saved yet (the builder's count): validated first, by the caller."""
    sql, params = players_query(conditions, label_id=label_id, now=now or _now(), count=True)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


# --- tracked membership and its events ------------------------------------------------------------------------------
_DIFF = """
WITH batch AS (SELECT * FROM unnest(%s::bigint[], %s::text[]) AS b(player_id, cause)),
now_in AS ({members}),
entered AS (
    INSERT INTO crm_segmentmember (segment_id, player_id, entered_at)
    SELECT %s, n.id, %s FROM now_in n
     WHERE NOT EXISTS (SELECT 1 FROM crm_segmentmember m WHERE m.segment_id = %s AND m.player_id = n.id)
    ON CONFLICT DO NOTHING
    RETURNING player_id),
gone AS (
    DELETE FROM crm_segmentmember m
     WHERE m.segment_id = %s {scope}
       AND NOT EXISTS (SELECT 1 FROM now_in n WHERE n.id = m.player_id)
    RETURNING player_id),
changes AS (
    SELECT player_id, 'segment_entered' AS type, 'in' AS dir FROM entered
    UNION ALL SELECT player_id, 'segment_left', 'out' FROM gone)
INSERT INTO crm_event (label_id, player_id, event_id, type, occurred_at, received_at, source, payload, digest)
SELECT %s, c.player_id, k.event_id, c.type, %s, %s, %s, %s::jsonb, md5(c.type || ':' || k.event_id || ':' || %s)
  FROM changes c {cause_join},
       LATERAL (SELECT %s::text || ':' || c.player_id || ':' || c.dir || ':' || {cause}) AS k(event_id)
ON CONFLICT (label_id, type, event_id) DO NOTHING
RETURNING type
"""


def _diff(segment_id: int, segment_name: str, label_id: int, members: tuple[str, list], now: dt.datetime, *,
          batch: tuple[list[int], list[str]] | None, run: str) -> tuple[int, int]:  # fmt: skip
    """Evaluate, diff against the tracked membership, store the changes and their events: one statement.
    With `batch` (player ids, causes), only those players; else the whole segment (causes: `run`)."""
    members_sql, members_params = members
    payload = orjson.dumps({"segment_id": segment_id, "segment_name": segment_name}).decode()
    sql = _DIFF.format(
        members=members_sql,
        scope="AND m.player_id = ANY(%s::bigint[])" if batch else "",
        cause_join="JOIN batch b USING (player_id)" if batch else "",
        cause="b.cause" if batch else "%s::text",
    )
    ids, causes = batch if batch else ([], [])
    params: list[Any] = [ids, causes, *members_params, segment_id, now, segment_id, segment_id]
    if batch:
        params.append(ids)
    params += [label_id, now, now, EventSource.SYSTEM, payload, payload, str(segment_id)]
    if not batch:
        params.append(run)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        types = [row[0] for row in cursor.fetchall()]
    return types.count(SEGMENT_ENTERED), types.count(SEGMENT_LEFT)


def _event_driven(segment: Segment, kinds: dict[int, str]) -> bool:
    """Whether events can change the segment's members: a tree with a field or behaviour leaf, a segment leaf naming a
    conditions segment, or no leaf at all (everyone: new players). Only imported-list leaves change by imports."""
    leaves = list(_leaves(segment.conditions))
    if not leaves:
        return True
    return any("segment" not in leaf or kinds.get(leaf["segment"]) != SegmentKind.IMPORTED for leaf in leaves)


def _leaves(node: Any) -> Iterator[dict]:
    if not isinstance(node, dict):
        return
    for key in ("all", "any"):
        if isinstance(node.get(key), list):
            for child in node[key]:
                yield from _leaves(child)
            return
    if "not" in node:
        yield from _leaves(node["not"])
        return
    yield node


def tracked_segments(*, label_id: int) -> list[Segment]:
    """The label's active conditions segments that events can change, in id order (the lock order)."""
    segments = list(
        Segment.objects.filter(label_id=label_id, status=SegmentStatus.ACTIVE, kind=SegmentKind.CONDITIONS).order_by(
            "pk"
        )
    )
    named = {leaf["segment"] for s in segments for leaf in _leaves(s.conditions) if "segment" in leaf}
    kinds = dict(Segment.objects.filter(pk__in=named).values_list("pk", "kind")) if named else {}
    return [s for s in segments if _event_driven(s, kinds)]


def segments_track_batch(*, label_id: int, causes: dict[int, int], now: dt.datetime | None = None) -> tuple[int, int]:
    """Re-evaluate the label's event-driven segments for these players (player id -> id of its last event in the
    batch), update the tracked membership and store the entered/left events. One statement per segment, plus one
    for the locks. Returns (entered, left) summed over the segments."""
    segments = tracked_segments(label_id=label_id)
    if not segments or not causes:
        return 0, 0
    now = now or _now()
    ids = sorted(causes)
    batch = (ids, [f"e{causes[pid]}" for pid in ids])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(%s, s) FROM unnest(%s::int[]) AS s ORDER BY s",
            [LOCK_CLASS, [s.pk for s in segments]],
        )
    entered = left = 0
    for segment in segments:
        try:
            members = _live_members_sql(segment, ids)
        except (TreeError, KeyError, ValueError) as exc:  # a tree that no longer compiles: skip it, say so
            log.warning("segment_tree_invalid", segment_id=segment.pk, error=type(exc).__name__)
            continue
        e, g = _diff(segment.pk, segment.name, label_id, members, now, batch=batch, run="")
        entered, left = entered + e, left + g
    return entered, left


def segment_refresh(*, segment: Segment, now: dt.datetime | None = None) -> tuple[int, int]:
    """Recompute the whole tracked membership of an active segment in SQL and store its entered/left events (for
    changes no event signals: relative dates, gamification state, imports, a changed tree). Returns (entered, left).

    Takes the segment's lock exclusively: the pipeline's handler for this segment waits meanwhile.
    """
    now = now or _now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_CLASS, segment.pk])
        current = Segment.objects.filter(pk=segment.pk).first()  # as committed now, after the lock
        if current is None or current.status != SegmentStatus.ACTIVE:
            return 0, 0
        members = _members_sql(current, now, None)
        run = f"r{int(now.timestamp() * 1000)}"
        entered, left = _diff(current.pk, current.name, current.label_id, members, now, batch=None, run=run)
        Segment.objects.filter(pk=current.pk).update(refreshed_at=now)
    if entered or left:
        log.info("segment_refreshed", segment_id=segment.pk, entered=entered, left=left)
    return entered, left
