"""The event pipeline: consumer groups on an immutable event log, PgQ's way.

Handlers register into named groups (`crm`, `gamification`, later `automation`, `delivery`). Each group reads the log
on its own and keeps its own position, so a slow or failing group never delays another.

How a group finds its events without ever updating them (the model of Skype's PgQ, re-implemented by PgQue):
- every event row carries the id of the transaction that inserted it (`crm_event.txid`, xid8, a column default);
- a *tick* stores `pg_current_snapshot()`, taken under a transaction-level advisory lock so that ticks nest
  (everything committed at tick k is committed at tick k+1);
- the batch between ticks A < B is exactly the events whose transaction is visible in B's snapshot and not in A's.
  A transaction still running at A (in A's `xip`) lands in the first batch whose end tick sees it committed, whatever
  its event ids: events committed out of id order are never skipped, and a long transaction delays only its own rows.
- the log is split into `PARTITIONS` partitions by `player_id % 16`; a (group, partition) position is a row of
  `pipeline_cursor` (its last tick, plus a keyset inside the open window so pages have an exact size). It is moved in
  the transaction that writes the handlers' effects, under `FOR UPDATE`: exactly once per group.
- a worker holds a partition through a lease on that row; a dead worker's lease expires and another takes it over.
  The row lock, not the lease, is what makes it safe: a stalled worker that lost its lease finds no row to lock.
- a handler failure on one event is recorded in `pipeline_failure` for (group, event) and the group moves on; the
  event is retried with backoff, then parked until staff retry it from the admin.

One player is in one partition, a partition is applied by one transaction at a time, windows in tick order and pages
in `(txid, id)` order: a player's events are applied in the order they were accepted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from django.conf import settings
from django.db import connection, transaction

from backoffice.db import TRANSIENT_DB_ERRORS
from crm.models.pipeline import PARTITIONS

log = structlog.get_logger(__name__)


KNOWN_GROUPS = ("crm", "gamification", "automation", "delivery")
# Acceptance-to-applied latency buckets of `pipeline_stat.latency_ms` (upper bounds in ms; the last one is open).
LATENCY_BOUNDS_MS = (25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000,
                     300000)  # fmt: skip
RETRY_BACKOFF_SECONDS = (10, 60, 300, 900, 3600)  # then parked: staff retry it from the admin


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    label_id: int
    player_id: int
    type: str
    occurred_at: dt.datetime
    received_at: dt.datetime
    payload: dict[str, Any]


Handler = Callable[[list[EventRow]], None]


@dataclass(order=True)
class _Registered:
    order: int
    name: str
    func: Handler = field(compare=False)


_GROUPS: dict[str, list[_Registered]] = {}


def handler(name: str, *, group: str, order: int = 100) -> Callable[[Handler], Handler]:
    """Register `events -> effects` under `name` in consumer `group`; lower `order` runs first within the group."""
    if group not in KNOWN_GROUPS:
        raise ValueError(f"Unknown pipeline group {group!r}; one of {', '.join(KNOWN_GROUPS)}.")

    def register(func: Handler) -> Handler:
        if any(r.name == name for regs in _GROUPS.values() for r in regs):
            raise ValueError(f"A pipeline handler named {name!r} is already registered.")
        _GROUPS.setdefault(group, []).append(_Registered(order, name, func))
        _GROUPS[group].sort()
        return func

    return register


def groups() -> list[str]:
    """The groups that have handlers, in KNOWN_GROUPS order: the ones workers consume."""
    return [g for g in KNOWN_GROUPS if _GROUPS.get(g)]


def registered(group: str | None = None) -> list[str]:
    """Handler names, of one group or of all (in group order)."""
    names = [g for g in groups()] if group is None else [group]
    return [r.name for g in names for r in _GROUPS.get(g, [])]


def partition_of(player_id: int) -> int:
    return player_id % PARTITIONS


# --- ticks -----------------------------------------------------------------------------------------------------

_TICK = """
INSERT INTO pipeline_tick (id, snap, event_seq, created_at)
SELECT nextval('pipeline_tick_id_seq'), now_snap, s.last_value, clock_timestamp()
  FROM (SELECT pg_current_snapshot() AS now_snap) n, crm_event_id_seq s,
       (SELECT snap, created_at FROM pipeline_tick ORDER BY id DESC LIMIT 1) l
 WHERE clock_timestamp() - l.created_at >= %(min)s::interval
   AND (%(force)s
        -- a transaction other than the previous tick's own was given an id since: it may write events
        OR pg_snapshot_xmax(now_snap)::text::numeric > pg_snapshot_xmax(l.snap)::text::numeric + 1
        -- a transaction running at the previous tick has finished: its events are now visible
        OR EXISTS (SELECT pg_snapshot_xip(l.snap) EXCEPT SELECT pg_snapshot_xip(now_snap))
        OR clock_timestamp() - l.created_at >= %(idle)s::interval)
RETURNING id
"""


def tick(*, force: bool = False) -> int | None:
    """Take a tick if one is due (activity since the last one and at least `PITBOSS_PIPELINE_TICK_MS` ago, or
    `PITBOSS_PIPELINE_IDLE_TICK_SECONDS` without one); return its id, or None.

    Any worker, and the sweeper, may call it. The transaction-level lock serializes tickers and the INSERT's snapshot
    is taken after the lock is granted, i.e. after the previous tick committed: snapshots nest. Without the lock, two
    tickers could commit a newer tick with an older snapshot, and a window would be delivered twice.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # READ COMMITTED whatever the default: the INSERT must see what committed before the lock
            cursor.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('pitboss.pipeline.tick'))")
        if not cursor.fetchone()[0]:
            return None  # someone is ticking right now
        cursor.execute(
            _TICK,
            {
                "min": _interval(0 if force else settings.PITBOSS_PIPELINE_TICK_MS / 1000),
                "idle": _interval(settings.PITBOSS_PIPELINE_IDLE_TICK_SECONDS),
                "force": force,
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


def ticks_prune(*, keep_seconds: float = 600) -> int:
    """Delete ticks no cursor needs any more (older than `keep`, which the dashboard's rates use)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """DELETE FROM pipeline_tick
                WHERE id < (SELECT min(least(last_tick, coalesce(next_tick, last_tick))) FROM pipeline_cursor)
                  AND id < (SELECT max(id) FROM pipeline_tick)
                  AND created_at < now() - %s::interval""",
            [_interval(keep_seconds)],
        )
        return cursor.rowcount


def cursors_ensure(group_names: Iterable[str]) -> None:
    """Create the partitions' cursors of groups that have none: a new group starts at the newest tick (as a new PgQ
    consumer does). `crm` and `gamification` were created by the migration at its own tick."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO pipeline_cursor (group_name, part, last_tick)
               SELECT g, p, (SELECT max(id) FROM pipeline_tick)
                 FROM unnest(%s::text[]) g, generate_series(0, %s - 1) p
               ON CONFLICT DO NOTHING""",
            [list(group_names), PARTITIONS],
        )


# --- one page of one partition ---------------------------------------------------------------------------------

_LOCK = """
SELECT last_tick, next_tick, after_txid::text, after_id FROM pipeline_cursor
 WHERE group_name = %s AND part = %s AND lease_owner = %s FOR UPDATE
"""
_BOUNDS = """
SELECT pg_snapshot_xmax(l.snap)::text, pg_snapshot_xmax(n.snap)::text, n.snap::text,
       ARRAY(SELECT pg_snapshot_xip(l.snap) EXCEPT SELECT pg_snapshot_xip(n.snap))::text[]
  FROM pipeline_tick l, pipeline_tick n WHERE l.id = %s AND n.id = %s
"""
_PAGE = """
SELECT id, txid::text, label_id, player_id, type, occurred_at, received_at, payload FROM crm_event
 WHERE (player_id %% {parts})::int2 = %(part)s AND txid >= %(floor)s::xid8 AND txid < %(hi)s::xid8 {after}
   AND (txid = ANY(%(late)s::xid8[]) OR (txid >= %(lo)s::xid8 AND pg_visible_in_snapshot(txid, %(snap)s::pg_snapshot)))
 ORDER BY txid, id LIMIT %(limit)s
"""
_AFTER = "AND (txid, id) > (%(after_txid)s::xid8, %(after_id)s)"
_ADVANCE = """
UPDATE pipeline_cursor SET
    last_tick = CASE WHEN %(full)s THEN last_tick ELSE %(next)s END,
    next_tick = CASE WHEN %(full)s THEN %(next)s END,
    after_txid = CASE WHEN %(full)s THEN %(after_txid)s::xid8 END,
    after_id = CASE WHEN %(full)s THEN %(after_id)s::bigint END,
    lease_until = clock_timestamp() + %(ttl)s::interval,
    applied = applied + %(applied)s, failed = failed + %(failed)s, updated_at = clock_timestamp()
 WHERE group_name = %(group)s AND part = %(part)s AND lease_owner = %(owner)s
"""


@dataclass
class PageResult:
    events: int = 0
    failed: int = 0
    full: bool = False  # the page was full: more may follow in the same window


def page_apply(*, group: str, part: int, owner: str, limit: int | None = None) -> PageResult | None:
    """Apply the next page of `group`'s batch in partition `part` and move its position, in one transaction.

    None when `owner` does not hold the partition's lease (any more). Transient database errors propagate and
    change nothing; a handler error is recorded per event and the position moves on (see `_handlers_run`).
    """
    limit = limit or settings.PITBOSS_PIPELINE_PAGE
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK, [group, part, owner])
        row = cursor.fetchone()
        if row is None:
            return None
        last, nxt, after_txid, after_id = row
        if nxt is None:
            cursor.execute("SELECT max(id) FROM pipeline_tick")
            nxt = cursor.fetchone()[0]
            if nxt == last:
                return PageResult()
        events = _page_read(cursor, part, last, nxt, after_txid, after_id, limit)
        failed_ids = _handlers_run(cursor, group, part, events) if events else set()
        failed = len(failed_ids)
        full = len(events) == limit
        cursor.execute(
            _ADVANCE,
            {
                "full": full,
                "next": nxt,
                "after_txid": events[-1][0] if full else None,
                "after_id": events[-1][1].id if full else None,
                "ttl": _lease_ttl(),
                "applied": len(events) - failed,
                "failed": failed,
                "group": group,
                "part": part,
                "owner": owner,
            },
        )
        if events:
            _stats_add(cursor, group, [e for _, e in events], failed_ids=failed_ids)
    return PageResult(len(events), failed, full)


_LOCK_MANY = """
SELECT part, last_tick, next_tick, after_txid::text, after_id FROM pipeline_cursor
 WHERE group_name = %s AND part = ANY(%s) AND lease_owner = %s ORDER BY part FOR UPDATE
"""


def pages_apply(*, group: str, parts: Sequence[int], owner: str, limit: int | None = None) -> dict[int, PageResult]:
    """`page_apply` for several partitions in one transaction: each partition's next page (at most `limit` events
    shared among them), the group's handlers once over all of them, every position moved with the effects.

    For a worker whose partitions each hold a few events (a steady stream): one transaction, one run of the handlers
    and one set of their statements per round instead of one per partition, which is what keeps the time from
    acceptance to applied low. Exactly once and per-player order hold as for one page: each partition's cursor row
    is locked and moved in the transaction of the effects, and each partition's events come in their order (a
    player is in one partition). Partitions whose lease `owner` lost are left out of the result."""
    limit = max(1, (limit or settings.PITBOSS_PIPELINE_PAGE) // max(1, len(parts)))
    results: dict[int, PageResult] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK_MANY, [group, sorted(parts), owner])
        reads = []
        newest = None
        for part, last, nxt, after_txid, after_id in cursor.fetchall():
            if nxt is None:
                if newest is None:
                    cursor.execute("SELECT max(id) FROM pipeline_tick")
                    newest = cursor.fetchone()[0]
                nxt = newest
                if nxt == last:
                    results[part] = PageResult()
                    continue
            reads.append((part, last, nxt, after_txid, after_id))
        pages = _pages_read(cursor, reads, limit) if reads else {}
        rows = [pair for part, *_ in reads for pair in pages[part]]
        failed_ids = _handlers_run(cursor, group, -1, rows) if rows else set()
        moves = []
        for part, _, nxt, _, _ in reads:
            events = pages[part]
            failed = sum(1 for _, e in events if e.id in failed_ids)
            full = len(events) == limit
            last_txid, last_id = (events[-1][0], events[-1][1].id) if full else (None, None)
            moves.append((part, full, nxt, last_txid, last_id, len(events) - failed, failed))
            results[part] = PageResult(len(events), failed, full)
        if moves:
            columns = [list(c) for c in zip(*moves, strict=True)]
            cursor.execute(_ADVANCE_MANY, [_lease_ttl(), *columns, group, owner])
        if rows:
            _stats_add(cursor, group, [e for _, e in rows], failed_ids=failed_ids)
    return results


_ADVANCE_MANY = """
UPDATE pipeline_cursor c SET
    last_tick = CASE WHEN t.is_full THEN c.last_tick ELSE t.nxt END,
    next_tick = CASE WHEN t.is_full THEN t.nxt END,
    after_txid = CASE WHEN t.is_full THEN t.after_txid::xid8 END,
    after_id = CASE WHEN t.is_full THEN t.after_id END,
    lease_until = clock_timestamp() + %s::interval,
    applied = c.applied + t.applied, failed = c.failed + t.failed, updated_at = clock_timestamp()
  FROM unnest(%s::int2[], %s::bool[], %s::bigint[], %s::text[], %s::bigint[], %s::bigint[], %s::bigint[])
       AS t(part, is_full, nxt, after_txid, after_id, applied, failed)
 WHERE c.group_name = %s AND c.part = t.part AND c.lease_owner = %s
"""


_PARAM = re.compile(r"%\((\w+)\)s")


def _pages_read(cursor, reads: list[tuple], limit: int) -> dict[int, list[tuple[str, EventRow]]]:
    """The next page of each of several partitions, in one statement (one `_PAGE` per partition, UNION ALL); each
    partition's events in (txid, id) order."""
    bounds: dict[tuple[int, int], tuple] = {}
    branches: list[str] = []
    params: dict[str, Any] = {}
    for n, (part, last, nxt, after_txid, after_id) in enumerate(reads):
        if (last, nxt) not in bounds:
            cursor.execute(_BOUNDS, [last, nxt])
            bounds[(last, nxt)] = cursor.fetchone()
        values = _page_params(bounds[(last, nxt)], part, after_txid, after_id, limit)
        sql = _PAGE.format(parts=PARTITIONS, after=_AFTER if after_id is not None else "")
        branch = _PARAM.sub(rf"%(\1_{n})s", sql)  # each partition's own parameters
        branches.append(f"(SELECT {n} AS branch, q.* FROM ({branch}) q)")  # noqa: S608 - no value is formatted in
        params |= {f"{k}_{n}": v for k, v in values.items()}
    cursor.execute(" UNION ALL ".join(branches), params)
    pages: dict[int, list[tuple[str, EventRow]]] = {part: [] for part, *_ in reads}
    for r in cursor.fetchall():
        pages[reads[r[0]][0]].append((r[2], _row((r[1], *r[3:]))))
    for events in pages.values():
        events.sort(key=lambda pair: (int(pair[0]), pair[1].id))
    return pages


def _page_params(bounds: tuple, part: int, after_txid, after_id, limit: int) -> dict[str, Any]:
    lo, hi, snap, late = bounds
    floor = min([int(lo), *(int(x) for x in late)])
    return {"part": part, "floor": str(floor), "hi": hi, "lo": lo, "late": late, "snap": snap, "limit": limit,
            "after_txid": after_txid, "after_id": after_id}  # fmt: skip


def _page_read(cursor, part: int, last: int, nxt: int, after_txid, after_id, limit: int) -> list[tuple[str, EventRow]]:
    cursor.execute(_BOUNDS, [last, nxt])
    params = _page_params(cursor.fetchone(), part, after_txid, after_id, limit)
    sql = _PAGE.format(parts=PARTITIONS, after=_AFTER if after_id is not None else "")
    cursor.execute(sql, params)
    # Django's backend hands jsonb to raw cursors as text (JSONField parses it); parse it the fast way here.
    return [(r[1], _row((r[0], *r[2:]))) for r in cursor.fetchall()]


def _row(r: Sequence[Any]) -> EventRow:
    """(id, label_id, player_id, type, occurred_at, received_at, payload as jsonb text) -> EventRow."""
    return EventRow(r[0], r[1], r[2], r[3], r[4], r[5], orjson.loads(r[6]))


def _handlers_run(cursor, group: str, part: int, events: list[tuple[str, EventRow]]) -> set[int]:
    """Run the group's handlers over the page in a savepoint; on a handler error, event by event, recording those
    that still fail. Return their ids."""
    rows = [e for _, e in events]
    try:
        with transaction.atomic():
            for reg in _GROUPS.get(group, []):
                reg.func(rows)
        return set()
    except TRANSIENT_DB_ERRORS:
        raise  # the database is away: nothing commits, the page is read again
    except Exception as exc:  # a handler bug or bad data must not block the rest of the page
        log.warning("pipeline_page_failed", group=group, part=part, error=type(exc).__name__)
    failures: list[tuple[EventRow, str, Exception]] = []
    for event in rows:
        name, error = _run_one(group, event)
        if error is not None:
            failures.append((event, name, error))
    _failures_record(cursor, group, part, failures)
    return {event.id for event, _, _ in failures}


def _run_one(group: str, event: EventRow) -> tuple[str, Exception | None]:
    name = ""
    try:
        with transaction.atomic():
            for reg in _GROUPS.get(group, []):
                name = reg.name
                reg.func([event])
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as exc:  # recorded for (group, event), shown in the admin, retried
        return name, exc
    return name, None


def _failures_record(cursor, group: str, part: int, failures: list[tuple[EventRow, str, Exception]]) -> None:
    """Record the failed events, each in its own partition (`part` is only the page's, for the log)."""
    if not failures:
        return
    cursor.execute(
        """INSERT INTO pipeline_failure AS f (group_name, event_id, part, label_id, handler, error, failed_at,
                                              retry_after)
           SELECT %s, e, p, l, h, m, clock_timestamp(), clock_timestamp() + %s::interval
             FROM unnest(%s::bigint[], %s::int2[], %s::bigint[], %s::text[], %s::text[]) AS t(e, p, l, h, m)
           ON CONFLICT (group_name, event_id) DO UPDATE SET
               attempts = f.attempts + 1, handler = EXCLUDED.handler, error = EXCLUDED.error,
               failed_at = EXCLUDED.failed_at, retry_after = EXCLUDED.retry_after, resolved_at = NULL""",
        [
            group,
            _interval(RETRY_BACKOFF_SECONDS[0]),
            [e.id for e, _, _ in failures],
            [partition_of(e.player_id) for e, _, _ in failures],
            [e.label_id for e, _, _ in failures],
            [name for _, name, _ in failures],
            [_error_text(exc) for _, _, exc in failures],
        ],
    )
    for event, name, exc in failures:
        log.error("pipeline_event_failed", group=group, event_pk=event.id, handler=name, error=type(exc).__name__)


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _stats_add(cursor, group: str, events: Sequence[EventRow], *, failed_ids: set[int]) -> None:
    """Count the page per label into this minute's row: applied, failed, acceptance-to-applied latency histogram."""
    now = dt.datetime.now(dt.UTC)
    minute = now.replace(second=0, microsecond=0)
    per_label: dict[int, tuple[Counter, list[int]]] = {}
    for event in events:
        counts, buckets = per_label.setdefault(event.label_id, (Counter(), [0] * (len(LATENCY_BOUNDS_MS) + 1)))
        counts["failed" if event.id in failed_ids else "applied"] += 1
        ms = (now - event.received_at).total_seconds() * 1000
        buckets[_bucket(ms)] += 1
    labels = sorted(per_label)
    cursor.execute(
        """INSERT INTO pipeline_stat AS s (group_name, label_id, minute, applied, failed, latency_ms)
           SELECT %s, l, %s, a, f, ARRAY(SELECT jsonb_array_elements_text(b)::int)
             FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::jsonb[]) AS t(l, a, f, b)
           ON CONFLICT (group_name, label_id, minute) DO UPDATE SET
               applied = s.applied + EXCLUDED.applied, failed = s.failed + EXCLUDED.failed,
               latency_ms = ARRAY(SELECT coalesce(x, 0) + coalesce(y, 0)
                                    FROM unnest(s.latency_ms, EXCLUDED.latency_ms) AS u(x, y))""",
        [
            group,
            minute,
            labels,
            [per_label[label][0]["applied"] for label in labels],
            [per_label[label][0]["failed"] for label in labels],
            [orjson.dumps(per_label[label][1]).decode() for label in labels],
        ],
    )


def latency_percentile(counts: Sequence[int], fraction: float) -> float | None:
    """The `fraction` (0.95: p95) of a `pipeline_stat.latency_ms` histogram in ms, interpolated linearly inside its
    bucket (the open last bucket answers its lower bound). None for an empty histogram."""
    total = sum(counts)
    if not total:
        return None
    rank, seen = fraction * total, 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS_MS[index - 1] if index else 0
            if index >= len(LATENCY_BOUNDS_MS):
                return float(low)
            return low + (LATENCY_BOUNDS_MS[index] - low) * (rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


def _bucket(ms: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if ms < bound:
            return index
    return len(LATENCY_BOUNDS_MS)


# --- retries ---------------------------------------------------------------------------------------------------


def failures_retry_due(*, group: str, part: int, owner: str, limit: int = 100) -> tuple[int, int] | None:
    """Retry the partition's failed events that are due, under the partition's lock (serialized with its pages).

    A success resolves the failure in the transaction of its effects (once); a failure backs off, then parks.
    Returns (resolved, failed again), or None without the lease.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_LOCK, [group, part, owner])
        if cursor.fetchone() is None:
            return None
        cursor.execute(
            """SELECT f.id, f.attempts, e.id, e.label_id, e.player_id, e.type, e.occurred_at, e.received_at, e.payload
                 FROM pipeline_failure f JOIN crm_event e ON e.id = f.event_id
                WHERE f.group_name = %s AND f.part = %s AND f.resolved_at IS NULL AND f.retry_after <= now()
                ORDER BY f.event_id LIMIT %s FOR UPDATE OF f""",
            [group, part, limit],
        )
        due = [(r[0], r[1], _row(r[2:])) for r in cursor.fetchall()]
        resolved = again = 0
        for failure_id, attempts, event in due:
            name, exc = _run_one(group, event)
            if exc is None:
                cursor.execute(
                    "UPDATE pipeline_failure SET resolved_at = clock_timestamp() WHERE id = %s", [failure_id]
                )
                resolved += 1
            else:
                _failure_again(cursor, failure_id, attempts, name, exc)
                again += 1
        if due:
            cursor.execute(
                "UPDATE pipeline_cursor SET applied = applied + %s, failed = failed - %s"
                " WHERE group_name = %s AND part = %s",
                [resolved, resolved, group, part],
            )
    return resolved, again


def _failure_again(cursor, failure_id: int, attempts: int, name: str, exc: Exception) -> None:
    backoff = RETRY_BACKOFF_SECONDS[attempts] if attempts < len(RETRY_BACKOFF_SECONDS) else None
    cursor.execute(
        """UPDATE pipeline_failure SET attempts = attempts + 1, handler = %s, error = %s, failed_at = clock_timestamp(),
                  retry_after = CASE WHEN %s::interval IS NULL THEN NULL ELSE clock_timestamp() + %s::interval END
            WHERE id = %s""",
        [name, _error_text(exc), None if backoff is None else _interval(backoff),
         None if backoff is None else _interval(backoff), failure_id],
    )  # fmt: skip


def failures_schedule(failure_ids: Sequence[int]) -> int:
    """Staff asked to retry these failures: due now (also parked ones). Applied by the partition's worker; return how
    many were scheduled."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pipeline_failure SET retry_after = now() WHERE id = ANY(%s) AND resolved_at IS NULL",
            [list(failure_ids)],
        )
        return cursor.rowcount


# --- leases and workers ----------------------------------------------------------------------------------------


def _interval(seconds: float) -> str:
    """A PostgreSQL interval literal (bound as text and cast in the SQL)."""
    return f"{seconds} seconds"


def _lease_ttl() -> str:
    return _interval(settings.PITBOSS_PIPELINE_LEASE_SECONDS)


def new_owner(kind: str = "worker") -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def leases_balance(*, group: str, owner: str, heartbeat: bool = True) -> list[int]:
    """Heartbeat, then hold this worker's share of the group's partitions (ceil(partitions / live workers)): renew
    what it holds, give back extras, take free or expired ones. Returns the partitions it holds.

    Workers on several machines converge on an even split with no configuration: each counts the live workers of its
    group in `pipeline_worker`.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        live = 1
        if heartbeat:
            cursor.execute(
                """INSERT INTO pipeline_worker (worker_id, group_name, seen_at) VALUES (%s, %s, clock_timestamp())
                   ON CONFLICT (worker_id) DO UPDATE SET seen_at = EXCLUDED.seen_at""",
                [owner, group],
            )
            cursor.execute(
                "SELECT count(*) FROM pipeline_worker"
                " WHERE group_name = %s AND seen_at > clock_timestamp() - %s::interval",
                [group, _lease_ttl()],
            )
            live = max(1, cursor.fetchone()[0])
        want = math.ceil(PARTITIONS / live)
        ttl = _lease_ttl()
        cursor.execute(
            """UPDATE pipeline_cursor SET lease_until = clock_timestamp() + %s::interval
                WHERE group_name = %s AND lease_owner = %s RETURNING part""",
            [ttl, group, owner],
        )
        held = sorted(r[0] for r in cursor.fetchall())
        if len(held) > want:
            extras = held[want:]
            cursor.execute(
                """UPDATE pipeline_cursor SET lease_owner = NULL, lease_until = NULL
                    WHERE group_name = %s AND part = ANY(%s) AND lease_owner = %s""",
                [group, extras, owner],
            )
            held = held[:want]
        elif len(held) < want:
            held += _leases_take(cursor, group, owner, want - len(held))
    return sorted(held)


def _leases_take(cursor, group: str, owner: str, count: int) -> list[int]:
    cursor.execute(
        """UPDATE pipeline_cursor c SET lease_owner = %s, lease_until = clock_timestamp() + %s::interval
            WHERE (c.group_name, c.part) IN (
                SELECT group_name, part FROM pipeline_cursor
                 WHERE group_name = %s AND (lease_owner IS NULL OR lease_until < clock_timestamp())
                 ORDER BY part LIMIT %s FOR UPDATE SKIP LOCKED)
           RETURNING part""",
        [owner, _lease_ttl(), group, count],
    )
    return [r[0] for r in cursor.fetchall()]


def leases_release(*, group: str, owner: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE pipeline_cursor SET lease_owner = NULL, lease_until = NULL"
            " WHERE group_name = %s AND lease_owner = %s",
            [group, owner],
        )
        cursor.execute("DELETE FROM pipeline_worker WHERE worker_id = %s", [owner])


_PROBE = """
SELECT c.part, c.next_tick IS NOT NULL
       -- what started at or after the last tick and has committed since (bounded by the transactions in flight)
       OR EXISTS (SELECT 1 FROM crm_event e
                   WHERE (e.player_id %% {parts})::int2 = c.part
                     AND e.txid >= pg_snapshot_xmax(l.snap) AND e.txid < pg_snapshot_xmax(h.snap)
                     AND pg_visible_in_snapshot(e.txid, h.snap))
       -- what was running at the last tick and has finished since (never a scan back to an old transaction)
       OR EXISTS (SELECT 1 FROM crm_event e
                   WHERE (e.player_id %% {parts})::int2 = c.part
                     AND e.txid = ANY(ARRAY(SELECT pg_snapshot_xip(l.snap) EXCEPT SELECT pg_snapshot_xip(h.snap))))
       OR (h.id > c.last_tick AND l.created_at < clock_timestamp() - %s::interval),
       EXISTS (SELECT 1 FROM pipeline_failure f WHERE f.group_name = c.group_name AND f.part = c.part
                  AND f.resolved_at IS NULL AND f.retry_after <= now())
  FROM pipeline_cursor c JOIN pipeline_tick l ON l.id = c.last_tick,
       (SELECT id, snap FROM pipeline_tick ORDER BY id DESC LIMIT 1) h
 WHERE c.group_name = %s AND c.part = ANY(%s)
"""


def partitions_due(*, group: str, parts: Sequence[int]) -> tuple[list[int], list[int]]:
    """Of `parts`, those with events to apply (or a position old enough to move, so old ticks can go), and those with
    failures due for a retry: one read-only statement, so an idle worker costs almost nothing."""
    if not parts:
        return [], []
    with connection.cursor() as cursor:
        cursor.execute(_PROBE.format(parts=PARTITIONS), [_interval(60), group, list(parts)])
        rows = cursor.fetchall()
    return sorted(r[0] for r in rows if r[1]), sorted(r[0] for r in rows if r[2])


@dataclass
class Worker:
    """One consumer of one group: holds a share of its partitions and applies their pages. `run_once` is a round."""

    group: str
    owner: str = field(default_factory=new_owner)
    pages_per_round: int = 4  # per partition, so one busy partition cannot starve the others of this worker
    held: list[int] = field(default_factory=list)
    _balanced_at: float = 0.0
    _ticked_at: float = 0.0
    _woken_until: float = 0.0

    def wake(self) -> None:
        """Events were committed (a notification): tick at the next round, and keep trying for a few tick periods
        if the tick is refused (another was taken just before, maybe before those events committed)."""
        self._ticked_at = 0.0
        self._woken_until = time.monotonic() + 3 * settings.PITBOSS_PIPELINE_TICK_MS / 1000

    @property
    def woken(self) -> bool:
        """Woken, and no tick taken since: the caller runs another round shortly rather than wait for events."""
        return time.monotonic() < self._woken_until

    def run_once(self) -> int:
        """One round: tick if due, keep the share of partitions, apply pages and due retries; return events seen."""
        now = time.monotonic()
        if now - self._ticked_at >= settings.PITBOSS_PIPELINE_TICK_MS / 1000:
            self._ticked_at = now
            if tick() is not None:
                self._woken_until = 0.0
        every = settings.PITBOSS_PIPELINE_LEASE_SECONDS / 5  # a worker holding nothing asks again within a second
        if now - self._balanced_at >= (every if self.held else min(every, 1.0)):
            self._balanced_at = now
            self.held = leases_balance(group=self.group, owner=self.owner)
        busy, retries = partitions_due(group=self.group, parts=self.held)
        done = 0
        for _ in range(self.pages_per_round):  # the busy partitions' pages together (`pages_apply`)
            if not busy:
                break
            results = pages_apply(group=self.group, parts=busy, owner=self.owner)
            lost = set(busy) - results.keys()
            if lost:
                self.held = [p for p in self.held if p not in lost]
            done += sum(r.events for r in results.values())
            busy = [p for p, r in sorted(results.items()) if r.full]
        for part in retries:
            failures_retry_due(group=self.group, part=part, owner=self.owner)
        return done

    def stop(self) -> None:
        leases_release(group=self.group, owner=self.owner)


def pipeline_drain(*, group_names: Sequence[str] | None = None, budget_seconds: float = 60.0, threads: int = 1) -> int:
    """Apply everything committed so far, in this process, for the given groups (all by default), on the partitions
    no live worker holds. For the sweeper (a fallback consumer when no worker runs), benches and tests. With
    `threads` > 1 the partitions are shared among that many threads, each on its own connection (as that many
    workers would).

    Returns the events applied. It ticks first, so it sees what was committed before the call.
    """
    deadline = time.monotonic() + budget_seconds
    names = list(group_names or groups())
    cursors_ensure(names)
    tick(force=True)
    total = 0
    for group in names:
        owner = new_owner("drain")
        with transaction.atomic(), connection.cursor() as cursor:
            parts = _leases_take(cursor, group, owner, PARTITIONS)
        try:
            if threads <= 1:
                total += _drain_parts(group, owner, parts, deadline)
            else:
                total += _drain_threaded(group, owner, parts, deadline, threads)
        finally:
            leases_release(group=group, owner=owner)
    return total


def _drain_parts(group: str, owner: str, parts: Sequence[int], deadline: float) -> int:
    total = 0
    for part in parts:
        while time.monotonic() < deadline:
            result = page_apply(group=group, part=part, owner=owner)
            if result is None:
                break
            total += result.events
            if not result.full:
                break
        failures_retry_due(group=group, part=part, owner=owner)
    return total


def _drain_threaded(group: str, owner: str, parts: Sequence[int], deadline: float, threads: int) -> int:
    from concurrent.futures import ThreadPoolExecutor

    def drain(share: Sequence[int]) -> int:
        try:
            return _drain_parts(group, owner, share, deadline)
        finally:
            connection.close()  # this thread's own

    shares = [parts[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(drain, shares))


def events_apply(event_ids: Sequence[int], *, group_names: Sequence[str] | None = None) -> int:
    """Run the groups' handlers over these events, in id order, in the caller's transaction, without moving any
    position. For tests of handlers and for replays; the live pipeline never calls it. Handler errors propagate."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT id, label_id, player_id, type, occurred_at, received_at, payload FROM crm_event
                WHERE id = ANY(%s) ORDER BY id""",
            [list(event_ids)],
        )
        events = [_row(r) for r in cursor.fetchall()]
    if events:
        with transaction.atomic():
            for group in group_names or groups():
                for reg in _GROUPS.get(group, []):
                    reg.func(events)
    return len(events)


# --- waking the workers ---------------------------------------------------------------------------------------------
NOTIFY_CHANNEL = "pitboss_events"


def events_notify() -> None:
    """Tell the workers that events were committed (ingest calls it after its commit), so they tick and read at once
    rather than at their next poll. Best effort: a lost notification costs one poll interval, nothing else."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


class Wakeup:
    """A worker's LISTEN connection (its own, autocommit): `wait` returns True as soon as events are notified, False
    after `timeout` without one. A lost connection is reopened at the next wait; meanwhile it just sleeps."""

    def __init__(self) -> None:
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        import psycopg

        try:
            if self._conn is None:
                self._conn = psycopg.connect(**connection.get_connection_params(), autocommit=True)
                self._conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            got = any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
            if got:  # those that came meanwhile are the same news
                for _ in self._conn.notifies(timeout=0):
                    pass
            return got
        except psycopg.Error as exc:
            log.warning("pipeline_listen_failed", error=type(exc).__name__)
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
