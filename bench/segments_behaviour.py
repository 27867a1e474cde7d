"""Behavioural segment counts against their floor (issue 11, "Speed": a behavioural count over 30 days within 1 s).

`measure(players=N)` works in a process where Django is set up on a migrated database (bench/segments.py calls it):
it writes a label of N players and, for a deposit-count spec, their daily roll-ups over the last 35 days (20% of the
players active on each day, 1 to 4 deposits a day) by one INSERT ... SELECT over generate_series, then times,
interleaved in one run, the same question asked two ways:

  behavioural_count_ms      "made at least 3 deposits in the last 30 days": `players_query(tree, count=True)` through
                            the condition engine (the behaviour leaf, its spec looked up, the label's players counted)
  behavioural_sql_floor_ms  the same count hand-written over the roll-ups: one GROUP BY of the window's rows

Both are medians of warm calls, and must give the same number. Run alone: `.venv/bin/python
bench/segments_behaviour.py --players 1000000` (its own database and broker, dropped at the end); the last line is
one JSON object with both figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

KEYS = ["behavioural_count_ms", "behavioural_sql_floor_ms"]
WINDOW_DAYS = 30
HISTORY_DAYS = 35
ACTIVE_SHARE = 0.2
THRESHOLD = 3
BEHAVIOUR = {"event_type": "deposit", "measure": "count", "window": {"last_days": WINDOW_DAYS}}
_FLOOR = """SELECT count(*) FROM (SELECT r.player_id FROM crm_rollup r
 WHERE r.spec_id = %s AND r.day BETWEEN %s AND %s GROUP BY r.player_id HAVING sum(r.count) >= %s) g"""


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
    _sql("VACUUM ANALYZE crm_rollup")
    _sql("VACUUM ANALYZE crm_player")
    rows = _sql("SELECT count(*) FROM crm_rollup WHERE spec_id = %s", [spec.pk])[0][0]
    log(f"{rows:,} roll-up rows over {days} days written and vacuumed: {time.monotonic() - started:.1f} s")
    return label, spec


def measure(*, players: int, rounds: int = 7) -> dict[str, float]:
    """Populate, then time the engine's count and the hand-written floor alternately; medians in ms."""
    from crm.conditions import players_query

    label, spec = populate(players=players)
    tree = {"behaviour": BEHAVIOUR, "op": "gte", "value": THRESHOLD}
    now = dt.datetime.now(dt.UTC)
    first, last = now.date() - dt.timedelta(days=WINDOW_DAYS - 1), now.date()

    def engine() -> int:
        sql, params = players_query(tree, label_id=label.pk, now=now, count=True)
        return _sql(sql, params)[0][0]

    def floor() -> int:
        return _sql(_FLOOR, [spec.pk, first, last, THRESHOLD])[0][0]

    sql, params = players_query(tree, label_id=label.pk, now=now, count=True)
    plan = _sql("EXPLAIN " + sql, params)
    log("engine plan:\n  " + "\n  ".join(r[0] for r in plan))
    engine_ms, floor_ms = [], []
    counts = set()
    for _ in range(rounds + 1):  # the first round warms the cache and is not counted
        for call, samples in ((engine, engine_ms), (floor, floor_ms)):
            started = time.perf_counter()
            counts.add(call())
            samples.append((time.perf_counter() - started) * 1000)
    if len(counts) != 1:
        raise AssertionError(f"the engine and the floor disagree: {sorted(counts)}")
    log(f"players with >= {THRESHOLD} deposits in the last {WINDOW_DAYS} days: {counts.pop():,}")
    return {
        "behavioural_count_ms": statistics.median(engine_ms[1:]),
        "behavioural_sql_floor_ms": statistics.median(floor_ms[1:]),
    }


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
