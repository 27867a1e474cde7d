"""Event pipeline throughput against its floors, measured in one self-contained run.

`.venv/bin/python bench/ingest.py` (or `make bench`) creates its own database on the configured PostgreSQL
(DATABASE_URL) or the embedded one, its own Redis broker on a free loopback port, labels, a brand, players and partner
keys; starts gunicorn, a Celery worker and pipeline workers (`manage.py pipeline_work`) with the production settings;
measures; stops everything and drops the database. It prints its figures, and as its last line one JSON object:

  copy_rows_per_s         psycopg COPY of the event rows into a copy of crm_event, 1,000 rows a transaction
  copy_dedupe_rows_per_s  COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING into crm_event
  api_events_per_s        POST /api/v1/events, 1,000-event batches from concurrent clients, through gunicorn
  api_ratio               api_events_per_s / copy_dedupe_rows_per_s                   (target >= 0.2, and >= 5,000/s)
  replay_events_per_s     the same batches again: all duplicates, the table must not grow (target >= fresh)
  noop_tasks_per_s        a no-op Celery task: a full queue drained by a Celery worker (the floor of task-driven work)
  pipeline_events_per_s   the crm group (profile, aggregates) applying the API phase's backlog, one pipeline worker
  pipeline_ratio          pipeline_events_per_s / noop_tasks_per_s                     (target >= 1)
  log_read_events_per_s   a group with no handlers reading the same backlog (ticks, pages, positions, stats), from as
                          many connections as the floors' best (--clients), as that many workers of the group would
  log_read_ratio          log_read_events_per_s / the better COPY floor (the run's, or one measured beside it) (>= 0.5)
  p95_accept_to_processed_ms  the crm group at a steady 500 events/s (50-event batches 10 times a second), from
                          acceptance to applied (the pipeline's own latency histogram, interpolated in its bucket)
  crm_p95_ms_while_gamification_lags  the same, for --lag-seconds (60), while the gamification group, held until it is
                          --lag-behind-seconds (300) behind, works through the backlog of every earlier phase
                          (its lag is printed)                                                  (target < 1,000)

The gamification group is held (the bench holds its partitions' leases) until the last phase, so the crm phases
measure the crm group alone and the gamification group builds its backlog. Nothing leaves loopback, and every loop is
bounded in count and time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import orjson
import psycopg

from bench.procs import BASE_DIR, CeleryWorker, Gunicorn, PipelineWorker, Redis, database_url, process_env, request

SETTINGS = "backoffice.settings.production"
SECRETS = {  # bench-only values for the processes this script starts; nothing else uses them
    "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789abcdef",
    "FIELD_ENCRYPTION_KEYS": "YmVuY2gtb25seS1mZXJuZXQta2V5LTAxMjM0NTY3ODk=",
    "FIELD_LOOKUP_KEY": "bench-only-lookup-key",
    "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
}
COLUMNS = ("label_id", "player_id", "event_id", "type", "occurred_at", "received_at", "source", "payload", "digest")
ENTRY_POINTS = ("lobby", "mobile", "app", "desktop", "promo")
BATCH = 1000


def log(message: str) -> None:
    print(message, flush=True)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# --- setup ----------------------------------------------------------------------------------------------------------


def server_settings() -> dict:
    """The PostgreSQL to use: DATABASE_URL's server, or the embedded one under PITBOSS_VAR_DIR (started if needed)."""
    if os.environ.get("DATABASE_URL"):
        import environ

        return environ.Env.db_url_config(os.environ["DATABASE_URL"])
    from backoffice.embedded_pg import database_settings

    return database_settings(Path(os.environ.get("PITBOSS_VAR_DIR") or BASE_DIR / "var"))


def conninfo(db: dict, name: str) -> str:
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"] or None, port=db["PORT"] or None, user=db["USER"] or None,
        password=db["PASSWORD"] or None, dbname=name,
    )  # fmt: skip


def admin_execute(db: dict, sql: str) -> None:
    with psycopg.connect(conninfo(db, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def database_drop(db: dict, name: str) -> None:
    """Drop the bench's database, closing what is still connected to it. FORCE needs the right to end every backend
    in it, and the app role of the embedded server (not a superuser) has none over an autovacuum worker: then the
    role's own connections are ended and a plain DROP is used, which stops autovacuum itself."""
    try:
        admin_execute(db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.errors.InsufficientPrivilege:
        with psycopg.connect(conninfo(db, "postgres"), autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND usename = current_user AND pid <> pg_backend_pid()",
                [name],
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def migrate(env: dict[str, str], workdir: Path) -> None:
    import subprocess

    started = time.monotonic()
    with (workdir / "migrate.log").open("w") as out:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=BASE_DIR, env=env, stdout=out,
            stderr=subprocess.STDOUT, timeout=600, check=True,
        )  # fmt: skip
    log(f"migrated the bench database in {time.monotonic() - started:.1f} s")


def django_setup(env: dict[str, str]) -> None:
    os.environ.update(env)
    os.environ["LOG_LEVEL"] = "WARNING"  # this process only: the servers log as deployed
    import django

    django.setup()


def tenant(players: int) -> tuple[object, dict[str, int], str]:
    """A label with one brand, `players` players and a partner key: (label, user_ext_id -> player id, raw key)."""
    from backoffice.models import Brand, Label
    from backoffice.services.apikeys import api_key_create
    from crm.models import Player

    label = Label.objects.create(name=f"Bench {uuid.uuid4().hex[:6]}")
    brand = Brand.objects.create(label=label, name="Bench casino", ext_brand_id="bench-casino")
    Player.objects.bulk_create(
        [Player(label=label, brand=brand, user_ext_id=f"u-{i}") for i in range(players)], batch_size=2000
    )
    ids = dict(Player.objects.filter(label=label).values_list("user_ext_id", "id"))
    _, raw_key = api_key_create(label=label, name="bench")
    return label, ids, raw_key


def make_events(count: int, prefix: str, players: int, start: dt.datetime) -> list[dict]:
    """A realistic mix: bets and wins most, then logins, deposits, withdrawals, actions and a few profile updates."""
    kinds = ["casino_bet", "casino_win", "casino_bet", "login", "deposit", "casino_bet", "sport_bet_placed",
             "casino_win", "sport_bet_settled", "withdrawal", "client_action", "casino_bet", "login", "deposit",
             "casino_bet", "casino_win", "casino_bet", "login", "casino_bet", "casino_win", "casino_bet", "deposit",
             "casino_bet", "casino_win", "casino_bet", "login", "casino_bet", "casino_win", "casino_bet",
             "casino_bet", "login", "deposit", "casino_bet", "casino_win", "casino_bet", "login", "casino_bet",
             "casino_win", "casino_bet", "casino_bet", "login", "deposit", "casino_bet", "casino_win", "casino_bet",
             "login", "casino_bet", "casino_win", "casino_bet", "profile_update"]  # fmt: skip
    game = {"game_id": "g-77", "game_name": "Book of Dead", "game_provider": "Play'n GO"}
    events = []
    for i in range(count):
        kind, amount = kinds[i % len(kinds)], round(1 + (i % 997) * 0.37, 2)
        payload = {
            "casino_bet": {"bet_amount": amount, **game},
            "casino_win": {"win_amount": amount * 2, **game},
            "sport_bet_placed": {"bet_amount": amount, "sport": "football", "odds": 1.85},
            "sport_bet_settled": {"bet_amount": amount, "result": "won", "win_amount": amount * 1.85},
            "login": {"entry_point": ENTRY_POINTS[i % len(ENTRY_POINTS)]},
            "deposit": {"deposit_amount": amount * 10, "deposit_method": "card"},
            "withdrawal": {"withdrawal_amount": amount * 5},
            "client_action": {"action": "opened_cashier"},
            "profile_update": {"core_username": f"nick-{i}", "user_country": "MT", "core_user_language": "EN"},
        }[kind]
        occurred = (start + dt.timedelta(milliseconds=7 * i)).isoformat(timespec="milliseconds")
        user = f"u-{(i * 7919) % players}"
        events.append({"event_id": f"{prefix}-{i}", "type": kind, "ext_brand_id": "bench-casino", "user_ext_id": user,
                       "occurred_at": occurred, "payload": payload})  # fmt: skip
    return events


def event_rows(events: list[dict], label_id: int, players: dict[str, int]) -> list[tuple]:
    """The crm_event rows ingest would write for these events (validated and digested by ingest's own functions)."""
    from crm.catalogue import clean_event
    from crm.services.ingest import _digest

    now = dt.datetime.now(dt.UTC)
    rows = []
    for raw in events:
        event, errors = clean_event(raw, {}, now)
        assert not errors, errors
        payload = orjson.dumps(event.payload).decode()
        rows.append((label_id, players[event.user_ext_id], event.event_id, event.type, event.occurred_at, now, "api",
                     payload, _digest(event)))  # fmt: skip
    return rows


# --- floors ---------------------------------------------------------------------------------------------------------


def timed_batches(info: str, rows: list[tuple], connections: int, prepare: str, write: Callable) -> float:
    """Rows per second writing `rows` in 1,000-row transactions from `connections` concurrent connections."""
    chunks: queue.Queue = queue.Queue()
    for start in range(0, len(rows), BATCH):
        chunks.put(rows[start : start + BATCH])
    conns = [psycopg.connect(info) for _ in range(connections)]
    errors: list[BaseException] = []

    def work(conn: psycopg.Connection) -> None:
        try:
            while True:
                try:
                    chunk = chunks.get_nowait()
                except queue.Empty:
                    return
                with conn.transaction(), conn.cursor() as cur:
                    write(cur, chunk)
        except BaseException as exc:  # reported after the threads are joined
            errors.append(exc)

    try:
        for conn in conns:
            if prepare:
                conn.execute(prepare)
            conn.commit()
        threads = [threading.Thread(target=work, args=(conn,), daemon=True) for conn in conns]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        seconds = time.perf_counter() - started
    finally:
        for conn in conns:
            conn.close()
    if errors or any(t.is_alive() for t in threads):
        raise RuntimeError(f"a floor failed: {errors[:1]}")
    return rate(len(rows), seconds)


def copy_rows(cur: psycopg.Cursor, table: str, rows: list[tuple]) -> None:
    with cur.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def copy_floor(info: str, rows: list[tuple], connections: int) -> float:
    """COPY into a copy of crm_event (same columns, defaults, indexes and constraints)."""
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_event_copy (LIKE crm_event INCLUDING ALL)")
    try:
        return timed_batches(info, rows, connections, "", lambda cur, chunk: copy_rows(cur, "bench_event_copy", chunk))
    finally:
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute("DROP TABLE bench_event_copy")


_STAGING = """CREATE TEMP TABLE bench_staging (label_id bigint, player_id bigint, event_id text, type text,
    occurred_at timestamptz, received_at timestamptz, source text, payload jsonb, digest text) ON COMMIT DELETE ROWS"""
_DEDUPE = (
    f"INSERT INTO crm_event ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM bench_staging "
    "ON CONFLICT (label_id, type, event_id) DO NOTHING"
)


def copy_dedupe_floor(info: str, rows: list[tuple], connections: int) -> float:
    """COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING into crm_event; crm_event emptied after."""

    def write(cur: psycopg.Cursor, chunk: list[tuple]) -> None:
        copy_rows(cur, "bench_staging", chunk)
        cur.execute(_DEDUPE)

    try:
        per_second = timed_batches(info, rows, connections, _STAGING, write)
        with psycopg.connect(info) as conn:
            stored = conn.execute("SELECT count(*) FROM crm_event").fetchone()[0]
        assert stored == len(rows), f"the dedupe floor stored {stored} of {len(rows)} rows"
    finally:
        with psycopg.connect(info, autocommit=True) as conn:
            conn.execute("TRUNCATE crm_event CASCADE")  # the API phase ingests the same events
            conn.execute("VACUUM ANALYZE crm_event")
    return per_second


def floors(info: str, rows: list[tuple], clients: int) -> dict[str, float]:
    """Each floor from one connection and from as many as the API has clients; the faster is the floor."""
    results = {}
    for key, measure, title in (
        ("copy_rows_per_s", copy_floor, "COPY into a copy of crm_event"),
        ("copy_dedupe_rows_per_s", copy_dedupe_floor, "COPY + INSERT ... ON CONFLICT DO NOTHING into crm_event"),
    ):
        by_connections = {n: measure(info, rows, n) for n in sorted({1, clients})}
        results[key] = max(by_connections.values())
        shown = ", ".join(f"{n} connection(s) {r:,.0f}" for n, r in by_connections.items())
        log(f"floor, {title}, 1,000 rows a transaction: {shown} rows/s -> {results[key]:,.0f} rows/s")
    return results


# --- celery ---------------------------------------------------------------------------------------------------------


def drain_time(worker: CeleryWorker, queue_name: str, done: Callable[[], bool], timeout: float) -> float:
    """Tell the idle worker to consume `queue_name` and return the seconds until `done()`."""
    from backoffice.celery import app

    started = time.perf_counter()
    app.control.add_consumer(queue_name, destination=[worker.name], reply=True, timeout=10)
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {queue_name} queue was not drained within {timeout:.0f} s:\n{worker.output()}")
        time.sleep(0.005)
    return time.perf_counter() - started


def noop_rate(worker: CeleryWorker, redis: Redis, count: int) -> float:
    """`backoffice.ping` (returns "pong", nothing else): `count` of them queued, then drained by the worker."""
    from backoffice.celery import app
    from backoffice.tasks import ping

    with app.producer_or_acquire() as producer:
        for _ in range(count):
            ping.apply_async(producer=producer)
    client = redis.client()
    assert client.llen("default") == count

    def drained() -> bool:  # nothing queued, nothing delivered and still unacknowledged (acks are late)
        return client.llen("default") == 0 and client.hlen("unacked") == 0

    return rate(count, drain_time(worker, "default", drained, timeout=300))


# --- the API --------------------------------------------------------------------------------------------------------


def post_concurrently(
    port: int,
    path: str,
    bodies: list[bytes],
    headers: dict[str, str],
    clients: int,
    ok: Callable[[int, dict, bytes], bool],
) -> float:
    """POST every body to `path` from `clients` concurrent connections; the seconds it took. Every answer must pass
    `ok(status, answer, body)`, else the bench stops with the first refusals."""
    todo: queue.Queue = queue.Queue()
    for body in bodies:
        todo.put(body)
    failures: list[str] = []

    def client() -> None:
        while not failures:
            try:
                body = todo.get_nowait()
            except queue.Empty:
                return
            status, answer = request(port, "POST", path, body, headers, timeout=60)
            if not ok(status, orjson.loads(answer), body):
                failures.append(f"{status} {answer[:300]!r}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    seconds = time.perf_counter() - started
    if failures or any(t.is_alive() for t in threads):
        raise RuntimeError(f"{path} refused batches: {failures[:3]}")
    return seconds


def post_batches(port: int, raw_key: str, bodies: list[bytes], clients: int, expect: str) -> float:
    """POST every body to /api/v1/events; the seconds it took. Each item must be `expect`."""
    headers = {"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"}
    return post_concurrently(
        port, "/api/v1/events", bodies, headers, clients,
        lambda status, result, body: status == 202 and result.get(expect) == len(result.get("results", [])),
    )  # fmt: skip


def steady_latency(port: int, raw_key: str, events: list[dict], per_batch: int, per_second: float) -> None:
    """Send `per_batch`-event batches at `per_second` batches a second, on schedule, from two connections."""
    bodies = [orjson.dumps({"events": events[i : i + per_batch]}) for i in range(0, len(events), per_batch)]
    todo: queue.Queue = queue.Queue()
    for index, body in enumerate(bodies):
        todo.put((index / per_second, body))
    headers = {"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"}
    started, failures = time.monotonic(), []

    def client() -> None:
        while True:
            try:
                due, body = todo.get_nowait()
            except queue.Empty:
                return
            time.sleep(max(0.0, started + due - time.monotonic()))
            status, answer = request(port, "POST", "/api/v1/events", body, headers, timeout=60)
            if status != 202:
                failures.append(f"{status} {answer[:300]!r}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=len(bodies) / per_second + 120)
    if failures:
        raise RuntimeError(f"the API refused batches: {failures[:3]}")


# --- the run --------------------------------------------------------------------------------------------------------


_PENDING = """
SELECT count(e.id) FROM pipeline_cursor c
  JOIN pipeline_tick t ON t.id = c.last_tick
  JOIN crm_event e ON (e.player_id %% 16)::int2 = c.part AND e.label_id = ANY(%s)
       AND e.txid >= pg_snapshot_xmin(t.snap) AND NOT pg_visible_in_snapshot(e.txid, t.snap)
 WHERE c.group_name = %s
"""


def pending(conn: psycopg.Connection, group: str, label_ids: list[int]) -> int:
    """Events of these labels that `group` has not applied yet."""
    count = conn.execute(_PENDING, [label_ids, group]).fetchone()[0]
    conn.commit()
    return count


def wait_applied(conn, group: str, label_ids: list[int], timeout: float) -> float:
    """Seconds until `group` has applied every event of these labels."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while pending(conn, group, label_ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {group} group did not catch up within {timeout:.0f} s")
        time.sleep(0.01)
    return time.perf_counter() - started


HOLDER = "bench-hold"


def hold(conn, group: str) -> None:
    """Hold every partition of `group` (a lease no worker can take): the group stands still, its backlog grows."""
    conn.execute(
        "UPDATE pipeline_cursor SET lease_owner = %s, lease_until = now() + interval '1 day' WHERE group_name = %s",
        [HOLDER, group],
    )
    conn.commit()


def release(conn, group: str) -> None:
    conn.execute(
        "UPDATE pipeline_cursor SET lease_owner = NULL, lease_until = NULL WHERE group_name = %s AND lease_owner = %s",
        [group, HOLDER],
    )
    conn.commit()


def latency_p95(conn, group: str, label_id: int) -> tuple[float, int]:
    """The group's p95 from acceptance to applied for one label, from the pipeline's histogram; and its count."""
    from crm.pipeline import LATENCY_BOUNDS_MS, latency_percentile

    rows = conn.execute(
        "SELECT latency_ms FROM pipeline_stat WHERE group_name = %s AND label_id = %s", [group, label_id]
    ).fetchall()
    conn.commit()
    counts = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for (row,) in rows:
        for index, count in enumerate(row):
            counts[index] += count
    return latency_percentile(counts, 0.95) or 0.0, sum(counts)


@dataclass
class BenchSite:
    db: dict  # the server's settings
    name: str  # the bench's own database
    redis: Redis
    env: dict[str, str]  # the environment of the processes the bench starts


def bench_site(stack: ExitStack, workdir: Path, prefix: str) -> BenchSite:
    """A database of its own on the configured server and a private Redis, migrated, with Django set up in this
    process; both are removed when `stack` closes, also after a failure."""
    db = server_settings()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin_execute(db, f'CREATE DATABASE "{name}"')
    stack.callback(database_drop, db, name)
    log(f"database {name} on {db['HOST'] or 'localhost'}; logs under {workdir}")
    redis = Redis(workdir)
    redis.start()
    stack.callback(redis.stop)
    # Production settings need the shared cache of the API's rate limits: the same private Redis, another database.
    cache_url = redis.url.removesuffix("/0") + "/1"
    env = process_env(
        database_url({**db, "NAME": name}),
        redis.url,
        SETTINGS,
        CACHE_URL=cache_url,
        PITBOSS_VAR_DIR=str(workdir),
        **SECRETS,
    )
    migrate(env, workdir)
    django_setup(env)
    return BenchSite(db, name, redis, env)


def run(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> dict[str, float]:
    site = bench_site(stack, workdir, "pitboss_bench")
    db, name, redis, env = site.db, site.name, site.redis, site.env
    label, players, raw_key = tenant(args.players)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    events = make_events(args.events, "ev", args.players, start)
    rows = event_rows(events, label.pk, players)
    results: dict[str, float] = {}

    results.update(floors(conninfo(db, name), rows, args.clients))
    with psycopg.connect(conninfo(db, name)) as conn:
        worker = CeleryWorker(env, workdir / "worker.log", queues="bench-idle", concurrency=args.worker_concurrency)
        worker.start()
        stack.callback(worker.stop)
        results["noop_tasks_per_s"] = noop_rate(worker, redis, args.noop_tasks)
        log(f"no-op Celery task, {args.noop_tasks:,} queued then drained: {results['noop_tasks_per_s']:,.0f} tasks/s")
        worker.stop()

        from crm.pipeline import cursors_ensure

        cursors_ensure(["delivery"])  # a group with no handlers: it reads the log from here on
        hold(conn, "gamification")
        web = Gunicorn(env, workdir / "gunicorn.log", workers=args.web_workers)
        web.start()
        stack.callback(web.stop)
        for _ in range(4 * args.web_workers):  # every web worker imports and connects before the clock starts
            request(web.port, "GET", "/api/v1/brands", headers={"Authorization": f"Api-Key {raw_key}"})
        bodies = [orjson.dumps({"events": events[i : i + BATCH]}) for i in range(0, len(events), BATCH)]
        results.update(api_phase(conn, web, raw_key, bodies, args))
        results.update(pipeline_phase(conn, stack, env, workdir, label.pk, len(events)))
        results.update(log_read_phase(conninfo(db, name), rows, label.pk, len(events), args.clients))
        results["p95_accept_to_processed_ms"] = latency_phase(conn, web, args, args.latency_seconds, "steady")
        results["crm_p95_ms_while_gamification_lags"] = lagging_phase(conn, stack, env, workdir, web, args)

    results["api_ratio"] = results["api_events_per_s"] / results["copy_dedupe_rows_per_s"]
    results["pipeline_ratio"] = results["pipeline_events_per_s"] / results["noop_tasks_per_s"]
    # Against the better of the two COPY floors (the run's and the one measured beside the log read).
    floor = max(results["copy_rows_per_s"], results.pop("log_read_copy_floor_rows_per_s"))
    results["log_read_ratio"] = results["log_read_events_per_s"] / floor
    return results


def api_phase(conn, web: Gunicorn, raw_key: str, bodies: list[bytes], args) -> dict[str, float]:
    count = args.events
    seconds = post_batches(web.port, raw_key, bodies, args.clients, expect="accepted")
    fresh = rate(count, seconds)
    log(f"API ingest, {len(bodies)} batches of {BATCH} from {args.clients} clients, {args.web_workers} gunicorn "
        f"workers: {count:,} events in {seconds:.2f} s = {fresh:,.0f} events/s")  # fmt: skip
    before = conn.execute("SELECT count(*) FROM crm_event").fetchone()[0]
    seconds = post_batches(web.port, raw_key, bodies, args.clients, expect="duplicate")
    replay = rate(count, seconds)
    after = conn.execute("SELECT count(*) FROM crm_event").fetchone()[0]
    conn.commit()
    log(f"API replay of the same batches: {count:,} duplicates in {seconds:.2f} s = {replay:,.0f} events/s")
    grew = "did not grow" if before == after == count else "GREW OR LOST ROWS"
    log(f"check: crm_event {grew}: {before:,} rows before the replay, {after:,} after ({count:,} sent)")
    if not before == after == count:
        raise RuntimeError("the replay changed the table")
    return {"api_events_per_s": fresh, "replay_events_per_s": replay}


def pipeline_worker(stack: ExitStack, env: dict, workdir: Path, group: str) -> PipelineWorker:
    worker = PipelineWorker(env, workdir / f"pipeline-{group}.log", groups=(group,))
    worker.start()
    stack.callback(worker.stop)
    return worker


def pipeline_phase(conn, stack: ExitStack, env: dict, workdir: Path, label_id: int, count: int) -> dict[str, float]:
    waiting = pending(conn, "crm", [label_id])
    if waiting != count:
        raise RuntimeError(f"the crm group had {waiting} events waiting, not {count}: did a worker run early?")
    started = time.perf_counter()
    pipeline_worker(stack, env, workdir, "crm")
    wait_applied(conn, "crm", [label_id], timeout=900)
    seconds = time.perf_counter() - started  # the worker's start (imports, connection) is in the clock
    failed = conn.execute("SELECT count(*) FROM pipeline_failure").fetchone()[0]
    conn.commit()
    if failed:
        raise RuntimeError(f"{failed} events failed in a group (see pipeline_failure)")
    log(f"pipeline, crm group (profile, aggregates): the backlog of {count:,} events applied by one worker in "
        f"{seconds:.2f} s = {rate(count, seconds):,.0f} events/s")  # fmt: skip
    return {"pipeline_events_per_s": rate(count, seconds)}


def log_read_phase(info: str, rows: list[tuple], label_id: int, count: int, threads: int) -> dict[str, float]:
    """The `delivery` group, which has no handlers, reads the same backlog here: the cost of the log itself. As many
    threads (connections) as the floors had clients, as that many workers of the group would."""
    from django.db import connection as django_connection

    from crm.pipeline import pipeline_drain

    floor = copy_floor(info, rows, threads)  # measured again beside it: the host's speed drifts
    started = time.perf_counter()
    applied = pipeline_drain(group_names=["delivery"], budget_seconds=600, threads=threads)
    seconds = time.perf_counter() - started
    django_connection.close()
    if applied != count:
        raise RuntimeError(f"the log read gave {applied} events, not {count}")
    log(f"log read, a group with no handlers, {threads} threads: {count:,} events in {seconds:.2f} s = "
        f"{rate(count, seconds):,.0f} events/s (ticks, pages per partition, positions, stats)")  # fmt: skip
    log(f"floor beside it, COPY into a copy of crm_event from {threads} connections: {floor:,.0f} rows/s")
    return {"log_read_events_per_s": rate(count, seconds), "log_read_copy_floor_rows_per_s": floor}


def latency_phase(conn, web: Gunicorn, args, seconds: float, title: str) -> float:
    """500 events/s for `seconds` for a label of its own; the crm group's p95 from acceptance to applied."""
    per_batch, per_second = 50, 10.0
    label, _, raw_key = tenant(args.players)
    count = int(per_batch * per_second * seconds)
    events = make_events(count, "lat", args.players, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    steady_latency(web.port, raw_key, events, per_batch, per_second)
    wait_applied(conn, "crm", [label.pk], timeout=120)
    p95, done = latency_p95(conn, "crm", label.pk)
    if done != count:
        raise RuntimeError(f"only {done} of the {count} steady-rate events were applied")
    log(f"{title}: {per_batch * per_second:.0f} events/s for {seconds:.0f} s ({per_batch}-event batches "
        f"{per_second:.0f} times a second): crm group accepted -> applied p95 {p95:.0f} ms")  # fmt: skip
    return p95


def lagging_phase(conn, stack: ExitStack, env: dict, workdir: Path, web: Gunicorn, args) -> float:
    """Once the held gamification group is --lag-behind-seconds behind, let it go with the backlog of every earlier
    phase, and measure the crm group meanwhile."""
    oldest = conn.execute("SELECT clock_timestamp() - min(received_at) FROM crm_event").fetchone()[0]
    wait = args.lag_behind_seconds - oldest.total_seconds()
    if wait > 0:
        log(f"waiting {wait:.0f} s for the held gamification group to be {args.lag_behind_seconds:.0f} s behind")
        time.sleep(wait)
        oldest = conn.execute("SELECT clock_timestamp() - min(received_at) FROM crm_event").fetchone()[0]
    backlog = pending(conn, "gamification", [r[0] for r in conn.execute("SELECT id FROM backoffice_label")])
    release(conn, "gamification")
    pipeline_worker(stack, env, workdir, "gamification")
    log(f"the gamification group starts {backlog:,} events and {oldest.total_seconds():.0f} s behind")
    p95 = latency_phase(conn, web, args, args.lag_seconds, "while the gamification group lags")
    label_ids = [r[0] for r in conn.execute("SELECT id FROM backoffice_label")]
    left = pending(conn, "gamification", label_ids)
    log(f"the gamification group still has {left:,} events to apply after the phase")
    return p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per phase (a multiple of 1,000)")
    parser.add_argument("--players", type=int, default=5_000)
    parser.add_argument("--web-workers", type=int, default=3, choices=range(2, 5), help="gunicorn workers (2-4)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--noop-tasks", type=int, default=3_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--lag-seconds", type=float, default=60.0, help="the phase while the gamification group lags")
    parser.add_argument("--lag-behind-seconds", type=float, default=300.0, help="how far behind it starts")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-bench-"))
    with ExitStack() as stack:
        if not args.keep_logs:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        results = run(args, stack, workdir)
    targets = [
        ("api_events_per_s >= 5,000", results["api_events_per_s"] >= 5000),
        ("api_ratio >= 0.2", results["api_ratio"] >= 0.2),
        ("replay_events_per_s >= api_events_per_s", results["replay_events_per_s"] >= results["api_events_per_s"]),
        ("pipeline_ratio >= 1", results["pipeline_ratio"] >= 1),
        ("log_read_ratio >= 0.5", results["log_read_ratio"] >= 0.5),
        ("p95_accept_to_processed_ms < 1000", results["p95_accept_to_processed_ms"] < 1000),
        ("crm_p95_ms_while_gamification_lags < 1000", results["crm_p95_ms_while_gamification_lags"] < 1000),
    ]
    for target, met in targets:
        log(f"target {target}: {'met' if met else 'MISSED'}")
    keys = ["copy_rows_per_s", "copy_dedupe_rows_per_s", "api_events_per_s", "api_ratio", "replay_events_per_s",
            "noop_tasks_per_s", "pipeline_events_per_s", "pipeline_ratio", "log_read_events_per_s", "log_read_ratio",
            "p95_accept_to_processed_ms", "crm_p95_ms_while_gamification_lags"]  # fmt: skip
    print(orjson.dumps({k: round(results[k], 3) for k in keys}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
