"""User-state segment speed: the condition-tree engine's count and membership at a million players (issue 11, "Speed").

`.venv/bin/python bench/segments_state.py [--players 1000000]` creates its own database on the configured PostgreSQL
(DATABASE_URL) or the embedded one and a private Redis (the production settings' cache), migrates, writes the
players by set-based SQL, measures in this process through the engine's own functions, drops everything and prints
its figures, and as its last line one JSON object:

  state_count_ms       the engine's count (players_query(..., count=True), compiled and run) of a four-condition
                       question: "Country is MT and Account status is ACTIVE and Deposits (count) is at least 1 and
                       Last deposit is within the last 30 days"; median of the timed runs
  state_sql_floor_ms   the same question hand-written (inner join, exact-case comparisons), timed interleaved with
                       the engine's query in the same run; median              (target: count <= 1.5 x floor, < 1 s)
  membership_p95_ms    segment_contains(segment=S, player_id=P) for a saved segment of that tree: "is this player
                       in the segment now", p95 over players, half of them members                    (target < 2 ms)
  membership_round_trip_p95_ms  a bare `SELECT 1` on the same connection after each check: the p95 of a round trip
                       that does nothing, in the same run (what of the check is client, network and CPU wait)
  membership_unprepared_p95_ms  the same check as it was done before, interleaved: the tree compiled and its
                       statement planned at each call (players_query(tree, player_ids=[P]) through Django's cursor)

`measure(*, players)` and `populate(*, players, label_id)` are what bench/segments.py calls, with Django set up on a
migrated database. Every loop is bounded in count.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import orjson

KEYS = [
    "state_count_ms",
    "state_sql_floor_ms",
    "membership_p95_ms",
    "membership_round_trip_p95_ms",
    "membership_unprepared_p95_ms",
]
QUESTION = {
    "all": [
        {"field": "user_country", "op": "eq", "value": "MT"},
        {"field": "core_account_status", "op": "eq", "value": "ACTIVE"},
        {"field": "aggregate.deposit_count", "op": "gte", "value": 1},
        {"field": "aggregate.last_deposit_at", "op": "within_last_days", "value": 30},
    ]
}
# The same question as a person would write it: the data is upper case, and only players with an aggregate row can
# have deposited, so an inner join. The window starts at midnight 29 days ago in the label's time zone, as the engine's.
FLOOR = """SELECT count(*) FROM crm_player p JOIN crm_playeraggregate a ON a.player_id = p.id
WHERE p.label_id = %s AND p.user_country = 'MT' AND p.core_account_status = 'ACTIVE'
  AND a.deposit_count >= 1 AND a.last_deposit_at >= %s AND a.last_deposit_at <= %s"""
COUNTRIES = "ARRAY['MT','DE','DE','GB','GB','FI','SE','NO','CA','BR','IN','JP','MT','']"
STATUSES = "ARRAY['ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','ACTIVE','BLOCKED','SELF_EXCLUDED']"


def log(message: str) -> None:
    print(message, flush=True)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def sql(statement: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# --- data -----------------------------------------------------------------------------------------------------------


def _player_columns(label_id: int, brand_id: int) -> tuple[list[str], list[str], list]:
    """Every column of crm_player: varied profile fields drawn by random() (seeded: the same data every run), the
    rest the model's defaults (read from its fields, so a column added later is filled too)."""
    from django.db import connection

    from crm.models import Player

    varied = {
        "label_id": ("%s", [label_id]),
        "brand_id": ("%s", [brand_id]),
        "user_ext_id": ("%s || g", [f"u{uuid.uuid4().hex[:6]}-"]),
        "user_country": (f"({COUNTRIES})[1 + floor(random() * 14)::int]", []),
        "core_account_status": (f"({STATUSES})[1 + floor(random() * 10)::int]", []),
        "core_registration_date": ("now() - random() * interval '1095 days'", []),
        "user_birthdate": ("timestamptz '1960-01-01 00:00Z' + floor(random() * 16000) * interval '1 day'", []),
        "core_user_language": ("(ARRAY['EN','DE','MT','FI'])[1 + floor(random() * 4)::int]", []),
        "core_wallet_currency": ("(ARRAY['EUR','EUR','GBP','USD'])[1 + floor(random() * 4)::int]", []),
        "core_username": ("'nick' || g", []),
        "markers": ("CASE WHEN random() < 0.05 THEN ARRAY['vip']::varchar[] ELSE '{}'::varchar[] END", []),
        "custom": ("CASE WHEN random() < 0.3 THEN jsonb_build_object('tier', (ARRAY['gold','silver'])[1 + g %% 2]) "
                   "ELSE '{}'::jsonb END", []),
        "created_at": ("now()", []),
        "updated_at": ("now()", []),
    }  # fmt: skip
    columns, values, params = [], [], []
    for field in Player._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in varied:
            value, more = varied[field.column]
        elif field.null:
            continue
        else:
            value, more = f"%s::{field.db_type(connection)}", [field.get_db_prep_save(field.get_default(), connection)]
        columns.append(field.column)
        values.append(value)
        params += more
    return columns, values, params


def populate(*, players: int, label_id: int) -> None:
    """`players` players of the label (its first brand, created if it has none), 60% with aggregates (most have
    deposited, a tenth in the last 30 days) and half with a wallet, by three INSERT ... SELECT generate_series."""
    from backoffice.models import Brand

    brand = Brand.objects.filter(label_id=label_id).first() or Brand.objects.create(
        label_id=label_id, name="Bench casino", ext_brand_id=f"bench-{uuid.uuid4().hex[:6]}"
    )
    columns, values, params = _player_columns(label_id, brand.pk)
    sql("SELECT setseed(0.42)")
    sql(
        f"INSERT INTO crm_player ({', '.join(columns)}) SELECT {', '.join(values)}"
        " FROM generate_series(1::bigint, %s) AS g",
        [*params, players],
    )
    sql(
        """INSERT INTO crm_playeraggregate (player_id, label_id, deposit_count, deposit_sum, first_deposit_at,
             last_deposit_at, withdrawal_count, withdrawal_sum, bet_count, bet_sum, win_sum, login_count,
             last_login_at, last_entry_point, updated_at)
           SELECT id, label_id, d, d * 25.5, CASE WHEN d > 0 THEN now() - interval '400 days' END,
                  CASE WHEN d > 0 THEN now() - random() * interval '300 days' END,
                  d / 3, d * 5, d * 40, d * 400.25, d * 380, 1 + d * 2, now() - random() * interval '90 days',
                  (ARRAY['lobby','mobile','app'])[1 + floor(random() * 3)::int], now()
           FROM (SELECT id, label_id, CASE WHEN random() < 0.3 THEN 0 ELSE 1 + floor(random() * 40)::int END AS d
                 FROM crm_player WHERE label_id = %s) s
           WHERE random() < 0.6""",
        [label_id],
    )
    sql(
        """INSERT INTO gamification_wallet (player_id, label_id, points, points_earned, points_tournament, gems,
             diamonds, updated_at)
           SELECT id, label_id, floor(random() * 1000), floor(random() * 5000), 0, floor(random() * 7),
                  floor(random() * 3), now()
           FROM crm_player WHERE label_id = %s AND random() < 0.5""",
        [label_id],
    )
    sql("ANALYZE crm_player")
    sql("ANALYZE crm_playeraggregate")
    sql("ANALYZE gamification_wallet")


# --- measures -------------------------------------------------------------------------------------------------------


def _timed(statement: str, params: list) -> tuple[float, list]:
    started = time.perf_counter()
    rows = sql(statement, params)
    return (time.perf_counter() - started) * 1000, rows


def _engine_count(label_id: int, now: dt.datetime) -> tuple[float, int]:
    from crm.conditions import players_query

    started = time.perf_counter()
    statement, params = players_query(QUESTION, label_id=label_id, now=now, count=True)
    rows = sql(statement, params)
    return (time.perf_counter() - started) * 1000, rows[0][0]


def _floor_params(label_id: int, now: dt.datetime) -> list:
    from crm.conditions.evaluate import label_settings
    from crm.conditions.ops import date_span

    span = date_span(kind="datetime", op="within_last_days", value=30, label_tz=label_settings(label_id)[0], now=now)
    return [label_id, span.lo, now]


def count_phase(label_id: int, runs: int) -> dict[str, float]:
    now = dt.datetime.now(dt.UTC)
    floor_params = _floor_params(label_id, now)
    _engine_count(label_id, now)  # warm: the tables are in the cache for both
    _timed(FLOOR, floor_params)
    engine, floor = [], []
    for _ in range(runs):
        ms, engine_answer = _engine_count(label_id, now)
        engine.append(ms)
        ms, rows = _timed(FLOOR, floor_params)
        floor.append(ms)
        assert engine_answer == rows[0][0], (engine_answer, rows[0][0])  # the same question, the same answer
    result = {"state_count_ms": statistics.median(engine), "state_sql_floor_ms": statistics.median(floor)}
    log(f"four-condition count: {engine_answer:,} players; engine median {result['state_count_ms']:.1f} ms, "
        f"hand-written {result['state_sql_floor_ms']:.1f} ms over {runs} interleaved runs "
        f"(ratio {result['state_count_ms'] / result['state_sql_floor_ms']:.2f})")  # fmt: skip
    return result


def membership_checks(segment, player_ids: list[int], unprepared: list[float] | None = None):
    """`segment_contains` for each player, each call followed by a bare `SELECT 1` round trip on the same
    connection (the machine's own floor, interleaved so both see the same load), and, given `unprepared`, the same
    question as it was asked before (the tree compiled at each call, its statement planned at each call), timed into
    that list. Returns (check ms, round-trip ms, members)."""
    from crm.conditions import players_query
    from crm.services.segments import segment_contains

    checks, trips, members = [], [], 0
    for player_id in player_ids:
        started = time.perf_counter()
        members += segment_contains(segment=segment, player_id=player_id)
        checks.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        sql("SELECT 1")
        trips.append((time.perf_counter() - started) * 1000)
        if unprepared is not None:
            started = time.perf_counter()
            now = dt.datetime.now(dt.UTC)
            sql(*players_query(segment.conditions, label_id=segment.label_id, now=now, player_ids=[player_id]))
            unprepared.append((time.perf_counter() - started) * 1000)
    return checks, trips, members


def membership_phase(label_id: int, calls: int) -> dict[str, float]:
    from crm.conditions import players_query
    from crm.models import Segment, SegmentKind, SegmentStatus

    now = dt.datetime.now(dt.UTC)
    low, high = sql("SELECT min(id), max(id) FROM crm_player WHERE label_id = %s", [label_id])[0]
    statement, params = players_query(QUESTION, label_id=label_id, now=now)
    member_ids = [row[0] for row in sql(statement, params)]
    rng = random.Random(11)
    # half of them members, half random players (mostly not); the first 50 warm the connection and are not counted
    asked = [
        rng.choice(member_ids) if member_ids and call % 2 else rng.randint(low, high) for call in range(calls + 50)
    ]
    segment = Segment.objects.create(
        label_id=label_id, name="Bench membership", kind=SegmentKind.CONDITIONS, conditions=QUESTION,
        status=SegmentStatus.PAUSED,  # no tracked membership to keep: only live checks
    )  # fmt: skip
    membership_checks(segment, asked[:50], [])
    before: list[float] = []
    checks, trips, members = membership_checks(segment, asked[50:], before)
    member_set = set(member_ids)
    expected = sum(1 for pid in asked[50:] if pid in member_set)
    assert members == expected, f"membership disagrees: {members} != {expected}"
    plan = "\n    ".join(row[0] for row in sql(f"EXPLAIN {statement} AND p.id = ANY(%s::bigint[])", [*params, [low]]))
    log(f"a bare round trip (SELECT 1) interleaved: p95 {p95(trips):.3f} ms, median {statistics.median(trips):.3f} ms")
    log(f"membership (segment_contains): p95 {p95(checks):.3f} ms, median {statistics.median(checks):.3f} ms over "
        f"{calls} players ({expected} members); p95 ratio to the round trip {p95(checks) / p95(trips):.2f}; "
        f"compiled and planned at each call (as before) interleaved: p95 {p95(before):.3f} ms, median "
        f"{statistics.median(before):.3f} ms; plan:\n    {plan}")  # fmt: skip
    return {
        "membership_p95_ms": p95(checks),
        "membership_round_trip_p95_ms": p95(trips),
        "membership_unprepared_p95_ms": p95(before),
    }


def measure(*, players: int, runs: int = 15, calls: int = 1000) -> dict[str, float]:
    """A new label with `players` players (populate), then the count against its floor and the membership p95."""
    from backoffice.models import Label

    label = Label.objects.create(name=f"Bench segments {uuid.uuid4().hex[:6]}", time_zone="Europe/Malta")
    started = time.monotonic()
    populate(players=players, label_id=label.pk)
    log(f"{players:,} players with aggregates and wallets written in {time.monotonic() - started:.1f} s")
    results = count_phase(label.pk, runs)
    results.update(membership_phase(label.pk, calls))
    return results


# --- the run --------------------------------------------------------------------------------------------------------


def _site(stack: ExitStack, workdir: Path, redis_port: int | None) -> None:
    """A database of its own on the configured server and a private Redis, migrated, with Django set up here; both
    removed when `stack` closes (bench/ingest.py's bench_site, with a chosen Redis port)."""
    import os

    from bench.ingest import SECRETS, SETTINGS, admin_execute, database_drop, django_setup, migrate, server_settings
    from bench.procs import Redis, database_url, process_env

    db = server_settings()
    name = f"pitboss_bench_seg_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_execute(db, f'CREATE DATABASE "{name}"')
    stack.callback(database_drop, db, name)
    log(f"database {name} on {db['HOST'] or 'localhost'}; logs under {workdir}")
    redis = Redis(workdir, port=redis_port)
    redis.start()
    stack.callback(redis.stop)
    env = process_env(
        database_url({**db, "NAME": name}), redis.url, SETTINGS, CACHE_URL=redis.url.removesuffix("/0") + "/1",
        PITBOSS_VAR_DIR=str(workdir), **SECRETS,
    )  # fmt: skip
    migrate(env, workdir)
    django_setup(env)
    from django.db import connections

    stack.callback(connections.close_all)  # before the database is dropped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15, help="interleaved timed runs of the count and its floor")
    parser.add_argument("--calls", type=int, default=1000, help="timed membership checks")
    parser.add_argument("--redis-port", type=int, help="the private Redis's port (default: a free one)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-bench-seg-"))
    started = time.monotonic()
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        _site(stack, workdir, args.redis_port)
        results = measure(players=args.players, runs=args.runs, calls=args.calls)
    ratio = results["state_count_ms"] / results["state_sql_floor_ms"]
    for target, met in [
        ("state_count_ms <= 1.5 x state_sql_floor_ms", ratio <= 1.5),
        ("state_count_ms < 1,000", results["state_count_ms"] < 1000),
        ("membership_p95_ms < 2", results["membership_p95_ms"] < 2),
    ]:
        log(f"target {target}: {'met' if met else 'MISSED'}")
    log(f"whole run {time.monotonic() - started:.0f} s")
    print(orjson.dumps({"players": args.players, **{k: round(results[k], 3) for k in KEYS}}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
