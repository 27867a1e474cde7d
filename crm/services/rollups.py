"""Roll-up specs: created on demand (when a segment asking a behavioural question is saved) and backfilled from the
immutable event log for the last 365 days, without counting an event twice against the live handler.

The boundary (docs/rollups.md, "Backfill boundary"): `rollup_spec_ensure` creates the spec in a transaction that first
locks every `crm` cursor row (`FOR UPDATE`, the lock each page and each retry of the group takes first) and stores the
positions it reads: per partition, the snapshots of the cursor's ticks and its keyset, and the group's unresolved
failures. A page that committed before the lock was granted has moved those positions and ran without the spec; a page
that takes the lock after the spec committed reads the specs in a later statement (READ COMMITTED) and counts the spec.
So the backfill counts exactly the events the positions had passed (failures excluded: a retry runs the handler with
the spec), and the live handler counts every other one: each event once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from typing import Any

import orjson
import structlog
from django.db import connection, transaction
from django.utils import timezone

from backoffice.models import Label
from crm.conditions.events_sql import event_conditions_sql
from crm.handlers_rollups import MONEY_BY_TYPE, SERIES_REBUILD, RollupCounter, SpecRow
from crm.models import RollupSpec, RollupStatus
from crm.models.pipeline import PARTITIONS
from crm.pipeline import EventRow, cursors_ensure

log = structlog.get_logger(__name__)

BACKFILL_DAYS = 365  # windows reach at most 365 days back
BACKFILL_PAGE = 5000  # events read and counted per transaction
_CASE_INSENSITIVE = {"eq", "ne", "in", "not_in", "contains"}


def where_normalize(*, conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conditions (valid in shape) in one canonical form, same meaning: texts case-folded (they compare
    case-insensitively), list values deduplicated and sorted, conditions sorted."""

    def value(v: Any) -> Any:
        return v.casefold() if isinstance(v, str) else v

    out = []
    for cond in conditions:
        operand = cond["value"]
        if isinstance(operand, list):
            unique = {orjson.dumps(value(v)): value(v) for v in operand}
            operand = [unique[k] for k in sorted(unique)]
        elif cond["op"] in _CASE_INSENSITIVE:
            operand = value(operand)
        out.append({"field": cond["field"], "op": cond["op"], "value": operand})
    unique_conds = {orjson.dumps(c, option=orjson.OPT_SORT_KEYS): c for c in out}
    return [unique_conds[k] for k in sorted(unique_conds)]


def _behaviour_key(behaviour: dict[str, Any]) -> tuple[str, list[dict[str, Any]], str]:
    """(event type, normalized conditions, measured field or "") of a behaviour leaf's `behaviour`."""
    measure = behaviour.get("measure", "count")
    field = behaviour.get("field") or "" if measure != "count" else ""
    return behaviour["event_type"], where_normalize(conditions=behaviour.get("where") or []), field


def spec_digest(*, event_type: str, where: list, field: str, time_zone: str, base_currency: str) -> str:
    question = {"v": 1, "type": event_type, "where": where, "field": field, "tz": time_zone, "base": base_currency}
    return hashlib.sha256(orjson.dumps(question, option=orjson.OPT_SORT_KEYS)).hexdigest()


def rollup_spec_find(*, label_id: int, behaviour: dict[str, Any]) -> RollupSpec | None:
    """The spec answering `behaviour` for the label's current time zone and base currency, if there is one."""
    event_type, where, field = _behaviour_key(behaviour)
    time_zone, base = Label.objects.filter(pk=label_id).values_list("time_zone", "base_currency").get()
    digest = spec_digest(event_type=event_type, where=where, field=field, time_zone=time_zone, base_currency=base)
    return RollupSpec.objects.filter(label_id=label_id, digest=digest).first()


_BOUNDARY = """
SELECT c.part, l.snap::text, n.snap::text, c.after_txid::text, c.after_id
  FROM pipeline_cursor c JOIN pipeline_tick l ON l.id = c.last_tick LEFT JOIN pipeline_tick n ON n.id = c.next_tick
 WHERE c.group_name = 'crm' ORDER BY c.part
"""


def rollup_spec_ensure(*, label_id: int, behaviour: dict[str, Any]) -> RollupSpec:
    """The spec counting `behaviour`'s events (its type, conditions and measured field) for the label; created if
    missing, with its backfill queued after commit. The live `crm` handler counts new events from the moment it
    commits; the backfill counts what the group had applied before (see the module's docstring)."""
    existing = rollup_spec_find(label_id=label_id, behaviour=behaviour)
    if existing is not None:
        return existing
    event_type, where, field = _behaviour_key(behaviour)
    time_zone, base = Label.objects.filter(pk=label_id).values_list("time_zone", "base_currency").get()
    digest = spec_digest(event_type=event_type, where=where, field=field, time_zone=time_zone, base_currency=base)
    with transaction.atomic():
        cursors_ensure(["crm"])
        with connection.cursor() as cursor:
            # Wait for the pages in flight and hold every partition of the group until the spec commits.
            cursor.execute("SELECT part FROM pipeline_cursor WHERE group_name = 'crm' ORDER BY part FOR UPDATE")
            found = RollupSpec.objects.filter(label_id=label_id, digest=digest).first()
            if found is not None:  # created meanwhile by another request: it waited for us or we for it
                return found
            cursor.execute(_BOUNDARY)
            parts = [
                {"part": r[0], "snap": r[1], "next_snap": r[2], "after_txid": r[3], "after_id": r[4]}
                for r in cursor.fetchall()
            ]
            cursor.execute(
                """SELECT event_id FROM pipeline_failure
                    WHERE group_name = 'crm' AND label_id = %s AND resolved_at IS NULL ORDER BY event_id""",
                [label_id],
            )
            failed = [r[0] for r in cursor.fetchall()]
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(time_zone)).date()
        spec = RollupSpec.objects.create(
            label_id=label_id, event_type=event_type, where=where, field=field, time_zone=time_zone,
            base_currency=base, digest=digest, backfill_from=today - dt.timedelta(days=BACKFILL_DAYS),
            backfill_days=BACKFILL_DAYS + 1, boundary={"parts": parts, "failed": failed, "position": None},
        )  # fmt: skip
        transaction.on_commit(lambda: _queue_backfill(spec.pk))
    log.info("rollup_spec_created", label_id=label_id, spec_id=spec.pk, event_type=event_type)
    return spec


def _queue_backfill(spec_id: int) -> None:
    from crm.tasks_rollups import rollup_backfill

    rollup_backfill.delay(spec_id)


# --- backfill ------------------------------------------------------------------------------------------------------

_BACKFILL_PAGE = """
SELECT e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload::text
  FROM crm_event e
  JOIN unnest(%s::int2[], %s::pg_snapshot[], %s::pg_snapshot[], %s::xid8[], %s::bigint[])
       AS b(part, snap, next_snap, after_txid, after_id) ON b.part = (e.player_id %% {parts})::int2
 WHERE e.label_id = %s AND e.type = %s AND e.occurred_at >= %s {after}
   AND (e.txid IS NULL OR pg_visible_in_snapshot(e.txid, b.snap)
        OR coalesce(pg_visible_in_snapshot(e.txid, b.next_snap)
                    AND (e.txid, e.id) <= (b.after_txid, b.after_id), false))
   AND e.id <> ALL(%s::bigint[])
   AND {where}
 ORDER BY e.occurred_at, e.id
 LIMIT %s
"""


def _prefilter(spec: RollupSpec) -> tuple[str, list]:
    """The spec's conditions on fields that are never converted, as SQL: they mean the same on the stored payload.
    Conditions on money fields are left to the counter (they compare converted amounts)."""
    money = MONEY_BY_TYPE.get(spec.event_type, frozenset())
    return event_conditions_sql([c for c in spec.where if c["field"] not in money])


def rollup_backfill_page(*, spec_id: int, limit: int = BACKFILL_PAGE) -> bool:
    """Count the next page of the spec's backfill and move its position, in one transaction under the spec's row lock
    (a second task for the same spec waits, then goes on from the position). Returns True when the backfill is done."""
    with transaction.atomic():
        spec = RollupSpec.objects.select_for_update().get(pk=spec_id)
        if spec.status == RollupStatus.READY:
            return True
        parts = spec.boundary.get("parts") or []
        position = spec.boundary.get("position")
        start = dt.datetime.combine(spec.backfill_from, dt.time(), tzinfo=zoneinfo.ZoneInfo(spec.time_zone))
        where, where_params = _prefilter(spec)
        after, after_params = "", []
        if position:
            after, after_params = "AND (e.occurred_at, e.id) > (%s, %s)", [position["at"], position["id"]]
        sql = _BACKFILL_PAGE.format(parts=PARTITIONS, after=after, where=where)
        params = [
            [p["part"] for p in parts], [p["snap"] for p in parts], [p["next_snap"] for p in parts],
            [p["after_txid"] for p in parts], [p["after_id"] for p in parts],
            spec.label_id, spec.event_type, start, *after_params, spec.boundary.get("failed") or [],
            *where_params, limit,
        ]  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        events = [EventRow(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6])) for r in rows]
        counter = RollupCounter([_spec_row(spec)])
        counter.add(events)
        counter.save()
        done = len(events) < limit
        if events:
            last = events[-1]
            spec.boundary = {**spec.boundary, "position": {"at": last.occurred_at.isoformat(), "id": last.id}}
            day = last.occurred_at.astimezone(zoneinfo.ZoneInfo(spec.time_zone)).date()
            spec.backfill_done = max(spec.backfill_done, min(spec.backfill_days, (day - spec.backfill_from).days))
        spec.backfill_events += counter.events
        spec.backfill_seen_at = timezone.now()
        if done:
            spec.status, spec.ready_at, spec.backfill_done = RollupStatus.READY, timezone.now(), spec.backfill_days
        spec.save(
            update_fields=["boundary", "backfill_done", "backfill_events", "backfill_seen_at", "status", "ready_at"]
        )
    return done


def _spec_row(spec: RollupSpec) -> SpecRow:
    return SpecRow(spec.pk, spec.label_id, spec.event_type, spec.where, spec.field, spec.time_zone, spec.base_currency)


def rollup_backfill_run(*, spec_id: int, budget_seconds: float | None = None) -> bool:
    """Backfill pages until done (True) or until `budget_seconds` have passed (False: call again)."""
    import time

    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    while True:
        if rollup_backfill_page(spec_id=spec_id):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def rollup_backfills_stalled(*, idle_seconds: float = 120) -> list[int]:
    """Specs still building whose backfill has counted nothing for `idle_seconds` (its task lost with a broker or a
    worker): the beat queues them again; a second task for a spec that is in fact running waits for its row lock and
    goes on from the position, so nothing counts twice."""
    since = timezone.now() - dt.timedelta(seconds=idle_seconds)
    building = RollupSpec.objects.filter(status=RollupStatus.BUILDING, created_at__lt=since)
    stalled = building.filter(backfill_seen_at__isnull=True) | building.filter(backfill_seen_at__lt=since)
    return sorted(stalled.values_list("pk", flat=True))


def rollup_series_rebuild(*, spec_ids: list[int]) -> int:
    """Rebuild the running totals (crm_rollupseries) of these specs from their daily roll-ups, of which they are a
    pure function (a repair; the migration that added them ran the same statement over every spec). Holds every
    `crm` cursor row (no page of the group runs meanwhile) and the specs' rows (no backfill page either), so nothing
    is added between the delete and the insert. Returns the series written."""
    ids = sorted({int(i) for i in spec_ids})
    with transaction.atomic():
        cursors_ensure(["crm"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT part FROM pipeline_cursor WHERE group_name = 'crm' ORDER BY part FOR UPDATE")
            cursor.execute("SELECT id FROM crm_rollupspec WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [ids])
            cursor.execute("DELETE FROM crm_rollupseries WHERE spec_id = ANY(%s)", [ids])
            cursor.execute(SERIES_REBUILD.format(where="r.spec_id = ANY(%s)"), [ids])
            return cursor.rowcount
