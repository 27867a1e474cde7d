"""Event pipeline throughput against its floors, measured in one self-contained run.

`.venv/bin/python bench/ingest.py` (or `make bench`) creates its own database on the configured PostgreSQL
(DATABASE_URL) or the embedded one, its own Redis broker on a free loopback port, a label, a brand, players and a
partner key; starts gunicorn and a Celery worker with the production settings; measures; stops everything and drops
the database. It prints its figures, and as its last line one JSON object:

  copy_rows_per_s         psycopg COPY of the event rows into a copy of crm_event, 1,000 rows a transaction
  copy_dedupe_rows_per_s  COPY into a staging table, then INSERT ... ON CONFLICT DO NOTHING into crm_event
  api_events_per_s        POST /api/v1/events, 1,000-event batches from concurrent clients, through gunicorn
  api_ratio               api_events_per_s / copy_dedupe_rows_per_s                   (target >= 0.2, and >= 5,000/s)
  replay_events_per_s     the same batches again: all duplicates, the table must not grow (target >= fresh)
  noop_tasks_per_s        a no-op Celery task on the same broker: a full queue drained by the same worker
  pipeline_events_per_s   events processed per second by that worker from a full backlog, handlers registered
  pipeline_ratio          pipeline_events_per_s / noop_tasks_per_s                     (target >= 1)
  p95_accept_to_processed_ms  at a steady 500 events/s (50-event batches 10 times a second): processed_at - received_at

The worker starts on an idle queue; each backlog (no-op tasks, then event batches) is queued first and the worker is
told to consume it (`add_consumer`), so the clock runs from a full queue to an empty one. Nothing leaves loopback, and
every loop is bounded in count and time.
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

from bench.procs import BASE_DIR, CeleryWorker, Gunicorn, Redis, database_url, process_env, request

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


def post_batches(port: int, raw_key: str, bodies: list[bytes], clients: int, expect: str) -> float:
    """POST every body from `clients` concurrent connections; the seconds it took. Each item must be `expect`."""
    todo: queue.Queue = queue.Queue()
    for body in bodies:
        todo.put(body)
    failures: list[str] = []
    headers = {"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"}

    def client() -> None:
        while not failures:
            try:
                body = todo.get_nowait()
            except queue.Empty:
                return
            status, answer = request(port, "POST", "/api/v1/events", body, headers, timeout=60)
            result = orjson.loads(answer)
            if status != 202 or result.get(expect) != len(result.get("results", [])):
                failures.append(f"{status} {answer[:300]!r}")

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    seconds = time.perf_counter() - started
    if failures or any(t.is_alive() for t in threads):
        raise RuntimeError(f"the API refused batches: {failures[:3]}")
    return seconds


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


def unprocessed(conn: psycopg.Connection) -> int:
    count = conn.execute("SELECT count(*) FROM crm_event WHERE processed_at IS NULL").fetchone()[0]
    conn.commit()
    return count


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
    stack.callback(admin_execute, db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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

        web = Gunicorn(env, workdir / "gunicorn.log", workers=args.web_workers)
        web.start()
        stack.callback(web.stop)
        for _ in range(4 * args.web_workers):  # every web worker imports and connects before the clock starts
            request(web.port, "GET", "/api/v1/brands", headers={"Authorization": f"Api-Key {raw_key}"})
        bodies = [orjson.dumps({"events": events[i : i + BATCH]}) for i in range(0, len(events), BATCH)]
        results.update(api_phase(conn, web, raw_key, bodies, args))
        results.update(pipeline_phase(conn, worker, len(events)))
        results["p95_accept_to_processed_ms"] = latency_phase(conn, web, raw_key, args)

    results["api_ratio"] = results["api_events_per_s"] / results["copy_dedupe_rows_per_s"]
    results["pipeline_ratio"] = results["pipeline_events_per_s"] / results["noop_tasks_per_s"]
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


def pipeline_phase(conn, worker: CeleryWorker, count: int) -> dict[str, float]:
    waiting = unprocessed(conn)
    seconds = drain_time(worker, "process", lambda: unprocessed(conn) == 0, timeout=900)
    failed = conn.execute("SELECT count(*) FROM crm_event WHERE processing_error <> ''").fetchone()[0]
    conn.commit()
    if failed or waiting != count:
        raise RuntimeError(f"processing: {waiting} waiting of {count}, {failed} set aside:\n{worker.output()}")
    log(f"pipeline, the backlog of {count:,} events processed by the worker in {seconds:.2f} s "
        f"= {rate(count, seconds):,.0f} events/s")  # fmt: skip
    return {"pipeline_events_per_s": rate(count, seconds)}


def latency_phase(conn, web: Gunicorn, raw_key: str, args) -> float:
    per_batch, per_second = 50, 10.0
    count = int(per_batch * per_second * args.latency_seconds)
    events = make_events(count, "lat", args.players, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    steady_latency(web.port, raw_key, events, per_batch, per_second)
    deadline = time.monotonic() + 120
    while unprocessed(conn) and time.monotonic() < deadline:
        time.sleep(0.05)
    p50, p95, p99, worst, done = conn.execute(
        """SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.95) WITHIN GROUP (ORDER BY ms),
                  percentile_cont(0.99) WITHIN GROUP (ORDER BY ms), max(ms), count(ms)
           FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms FROM crm_event
                 WHERE event_id LIKE 'lat-%') AS t"""
    ).fetchone()
    conn.commit()
    if done != count:
        raise RuntimeError(f"only {done} of the {count} steady-rate events were processed")
    log(f"steady {per_batch * per_second:.0f} events/s for {args.latency_seconds:.0f} s ({per_batch}-event batches "
        f"{per_second:.0f} times a second): accepted -> processed p50 {p50:.0f} ms, p95 {p95:.0f} ms, "
        f"p99 {p99:.0f} ms, max {worst:.0f} ms")  # fmt: skip
    return float(p95)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000, help="events per phase (a multiple of 1,000)")
    parser.add_argument("--players", type=int, default=5_000)
    parser.add_argument("--web-workers", type=int, default=3, choices=range(2, 5), help="gunicorn workers (2-4)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--noop-tasks", type=int, default=3_000)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
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
        ("p95_accept_to_processed_ms < 1000", results["p95_accept_to_processed_ms"] < 1000),
    ]
    for target, met in targets:
        log(f"target {target}: {'met' if met else 'MISSED'}")
    keys = ["copy_rows_per_s", "copy_dedupe_rows_per_s", "api_events_per_s", "api_ratio", "replay_events_per_s",
            "noop_tasks_per_s", "pipeline_events_per_s", "pipeline_ratio", "p95_accept_to_processed_ms"]  # fmt: skip
    print(orjson.dumps({k: round(results[k], 3) for k in keys}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
