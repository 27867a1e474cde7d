"""Behavioural segment counts against their floor (issue 11, "Speed": a behavioural count over 30 days within 1 s).

`measure(players=N)` works in a process where Django is set up on a migrated database (bench/segments.py calls it):
it writes a label of N players and, for a deposit-count spec, their daily roll-ups over the last 35 days (20% of the
players active on each day, 1 to 4 deposits a day) by one INSERT ... SELECT over generate_series, then times,
interleaved in one run, the same question asked two ways:

  behavioural_count_ms      "made at least 3 deposits in the last 30 days": `players_query(tree, count=True)` through
                            the condition engine (the behaviour leaf, its spec looked up, counted from its roll-ups)
  behavioural_sql_floor_ms  the same count hand-written over the roll-ups the engine reads: the players' running
                            totals (crm_rollupseries, one row per player), total at the last day minus total before
                            the first                                      (target: count < 1 s, judged against this)
  behavioural_daily_floor_ms  the same count hand-written over the daily roll-ups: one GROUP BY of the window's rows
                            (the floor before the running totals existed; kept to show what they changed)
  behavioural_tree_ms       "at least 3 deposits in 30 days and account ACTIVE" through the engine: the general path
  behavioural_membership_p95_ms  segment_contains for a segment of the leaf, p95 over random players
  behavioural_round_trip_p95_ms  a bare SELECT 1 after each check, p95 (the machine's floor in the same run)

Both are medians of warm calls, and must give the same number. Run alone: `.venv/bin/python
bench/segments_behaviour.py --players 1000000` (its own database and broker, dropped at the end); the last line is
one JSON object with both figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

KEYS = [
    "behavioural_count_ms",
    "behavioural_sql_floor_ms",
    "behavioural_daily_floor_ms",
    "behavioural_tree_ms",
    "behavioural_membership_p95_ms",
    "behavioural_round_trip_p95_ms",
]
WINDOW_DAYS = 30
HISTORY_DAYS = 35
ACTIVE_SHARE = 0.2
THRESHOLD = 3
BEHAVIOUR = {"event_type": "deposit", "measure": "count", "window": {"last_days": WINDOW_DAYS}}
# The same question hand-written over the players' running totals (what the engine reads)...
_FLOOR = """SELECT count(*) FROM crm_rollupseries t WHERE t.spec_id = %s
   AND coalesce(t.counts[width_bucket(%s::date, t.days)], 0)
     - coalesce(t.counts[width_bucket(%s::date, t.days)], 0) >= %s"""
# ... and over the daily rows (what it read before the running totals).
_DAILY_FLOOR = """SELECT count(*) FROM (SELECT r.player_id FROM crm_rollup r
 WHERE r.spec_id = %s AND r.day BETWEEN %s AND %s GROUP BY r.player_id HAVING sum(r.count) >= %s) g"""
# A tree of the leaf and a profile condition: the general path (the leaf's players hashed once, the players scanned).
_TREE_EXTRA = {"field": "core_account_status", "op": "eq", "value": "ACTIVE"}


def log(message: str) -> None:
    print(message, flush=True)


def _sql(statement: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def populate(*, players: int, active: float = ACTIVE_SHARE, days: int = HISTORY_DAYS):
    """A label of `players` players and its deposit-count spec's roll-ups over the last `days` days (`active` of the
    players on each day). Returns (label, spec)."""
    from django.db import transaction

    from backoffice.models import Brand, Label
    from bench.gamification_data import players_insert
    from crm.models import RollupStatus
    from crm.services.rollups import rollup_spec_ensure

    started = time.monotonic()
    label = Label.objects.create(name=f"Bench behaviour {uuid.uuid4().hex[:6]}")
    brand = Brand.objects.create(label=label, name="Bench casino", ext_brand_id="bench-behaviour")
    players_insert(label.pk, brand.pk, players, "b-")
    log(f"{players:,} players written: {time.monotonic() - started:.1f} s")
    with transaction.atomic():
        spec = rollup_spec_ensure(label_id=label.pk, behaviour=BEHAVIOUR)
        spec.status = RollupStatus.READY  # no event in this label's log: there is nothing to backfill
        spec.save(update_fields=["status"])
    started = time.monotonic()
    today = dt.datetime.now(dt.UTC).date()
    for offset in range(days):  # a day at a time: rows arrive in (day, player) order, as the live handler adds them
        _sql(
            """INSERT INTO crm_rollup (spec_id, player_id, day, count, sum)
               SELECT %s, p.id, %s, 1 + floor(random() * 4)::int, 0 FROM crm_player p
                WHERE p.label_id = %s AND random() < %s ORDER BY p.id""",
            [spec.pk, today - dt.timedelta(days=offset), label.pk, active],
        )
    from crm.services.rollups import rollup_series_rebuild

    rollup_series_rebuild(spec_ids=[spec.pk])  # the players' running totals, as the migration's backfill builds them
    _sql("VACUUM ANALYZE crm_rollup")
    _sql("VACUUM ANALYZE crm_rollupseries")
    _sql("VACUUM ANALYZE crm_player")
    rows = _sql("SELECT count(*) FROM crm_rollup WHERE spec_id = %s", [spec.pk])[0][0]
    log(f"{rows:,} roll-up rows over {days} days written and vacuumed: {time.monotonic() - started:.1f} s")
    return label, spec


def measure(*, players: int, rounds: int = 7, calls: int = 1000) -> dict[str, float]:
    """Populate, then time the engine's count and the hand-written floors alternately (medians in ms), then one
    player's membership of a segment of the leaf (p95, with a bare round trip interleaved)."""
    from bench.segments_state import membership_checks, p95
    from crm.conditions import players_query
    from crm.models import Segment, SegmentKind, SegmentStatus

    label, spec = populate(players=players)
    tree = {"behaviour": BEHAVIOUR, "op": "gte", "value": THRESHOLD}
    both = {"all": [tree, _TREE_EXTRA]}
    now = dt.datetime.now(dt.UTC)
    first, last = now.date() - dt.timedelta(days=WINDOW_DAYS - 1), now.date()

    def engine() -> int:
        sql, params = players_query(tree, label_id=label.pk, now=now, count=True)
        return _sql(sql, params)[0][0]

    def floor() -> int:
        return _sql(_FLOOR, [spec.pk, last, first - dt.timedelta(days=1), THRESHOLD])[0][0]

    def daily_floor() -> int:
        return _sql(_DAILY_FLOOR, [spec.pk, first, last, THRESHOLD])[0][0]

    def engine_tree() -> int:
        sql, params = players_query(both, label_id=label.pk, now=now, count=True)
        return _sql(sql, params)[0][0]

    for name, question in (("engine", tree), ("engine, two-condition tree", both)):
        sql, params = players_query(question, label_id=label.pk, now=now, count=True)
        plan = _sql("EXPLAIN " + sql, params)
        log(f"{name} plan:\n  " + "\n  ".join(r[0] for r in plan))
    samples: dict[str, list[float]] = {"engine": [], "floor": [], "daily": [], "tree": []}
    counts: dict[str, set] = {name: set() for name in samples}
    calls_by_name = {"engine": engine, "floor": floor, "daily": daily_floor, "tree": engine_tree}
    for _ in range(rounds + 1):  # the first round warms the cache and is not counted
        for name, call in calls_by_name.items():
            started = time.perf_counter()
            counts[name].add(call())
            samples[name].append((time.perf_counter() - started) * 1000)
    if len(counts["engine"] | counts["floor"] | counts["daily"]) != 1:
        raise AssertionError(f"the engine and the floors disagree: {counts}")
    log(f"players with >= {THRESHOLD} deposits in the last {WINDOW_DAYS} days: {counts['engine'].pop():,} "
        f"(and ACTIVE: {counts['tree'].pop():,})")  # fmt: skip
    result = {
        "behavioural_count_ms": statistics.median(samples["engine"][1:]),
        "behavioural_sql_floor_ms": statistics.median(samples["floor"][1:]),
        "behavioural_daily_floor_ms": statistics.median(samples["daily"][1:]),
        "behavioural_tree_ms": statistics.median(samples["tree"][1:]),
    }
    count_ms, floor_ms = result["behavioural_count_ms"], result["behavioural_sql_floor_ms"]
    daily_ms = result["behavioural_daily_floor_ms"]
    log(f"count: engine {count_ms:.1f} ms, hand-written over the running totals {floor_ms:.1f} ms (ratio "
        f"{count_ms / floor_ms:.2f}), hand-written over the daily rows {daily_ms:.1f} ms (engine / daily "
        f"{count_ms / daily_ms:.3f}); two-condition tree {result['behavioural_tree_ms']:.1f} ms; medians of {rounds} "
        "interleaved rounds")  # fmt: skip
    segment = Segment.objects.create(
        label=label, name="Bench behaviour", kind=SegmentKind.CONDITIONS, conditions=tree, status=SegmentStatus.PAUSED
    )
    low, high = _sql("SELECT min(id), max(id) FROM crm_player WHERE label_id = %s", [label.pk])[0]
    rng = random.Random(11)
    asked = [rng.randint(low, high) for _ in range(calls + 50)]
    membership_checks(segment, asked[:50])  # warm the connection, the compiled statement and its plan
    checks, trips, members = membership_checks(segment, asked[50:])
    result["behavioural_membership_p95_ms"] = p95(checks)
    result["behavioural_round_trip_p95_ms"] = p95(trips)
    log(f"membership of the behavioural segment (segment_contains): p95 {p95(checks):.3f} ms, median "
        f"{statistics.median(checks):.3f} ms over {calls} players ({members} members); a bare round trip "
        f"interleaved: p95 {p95(trips):.3f} ms, median {statistics.median(trips):.3f} ms")  # fmt: skip
    return result


def main() -> int:
    import shutil
    import tempfile
    from contextlib import ExitStack

    import orjson

    from bench.ingest import bench_site

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-bench-behaviour-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bench_site(stack, workdir, "pitboss_bench_behaviour")
        from django.db import connections

        stack.callback(connections.close_all)  # before the database is dropped
        results = measure(players=args.players, rounds=args.rounds)
    log(f"target behavioural_count_ms < 1000: {'met' if results['behavioural_count_ms'] < 1000 else 'MISSED'}")
    print(orjson.dumps({k: round(results[k], 3) for k in KEYS}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
