"""SmartKarrot-compatible usage events against the COPY-with-dedupe floor, measured in one self-contained run.

`.venv/bin/python bench/usage_events.py` creates its own database on the configured PostgreSQL (DATABASE_URL) or
the embedded one, a private Redis, a label with one brand, players, an app mapped to the brand and a partner key;
starts gunicorn with the production settings; measures; stops everything and drops the database (bench/ingest.py's
machinery). bench/pixel.py runs it and merges its figures. The last line is one JSON object:

  copy_dedupe_rows_per_s  bench/ingest.py's floor: COPY the same events' crm_event rows into a staging table, then
                          INSERT ... ON CONFLICT DO NOTHING into crm_event, 1,000 rows a transaction (the better of
                          1 and --clients connections)
  sk_events_per_s         POST /v4/usageanalytics/event through gunicorn: batches of --batch events of one user each
                          (the SDK's store-and-forward buffer), typed parameters, from --clients concurrent clients;
                          each event validated, translated to a catalogue type and stored by `events_ingest`
  sk_replay_events_per_s  the same batches again: every event a duplicate, the table must not grow
  sk_ratio                sk_events_per_s / copy_dedupe_rows_per_s                                  (target >= 0.2)

The floor and the API are measured in turns (--rounds), each round with fresh events, and the best of each is kept:
the host's speed drifts, so only the in-run ratio is to be quoted.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import orjson
import psycopg

from bench.ingest import (
    BenchSite,
    bench_site,
    conninfo,
    copy_dedupe_floor,
    event_rows,
    log,
    post_concurrently,
    rate,
    tenant,
)
from bench.procs import Gunicorn, request

APP_ID = "bench-app"


def basic(raw_key: str) -> str:
    """SmartKarrot's authentication: Basic with the user `apikey` and the key as the password."""
    return "Basic " + base64.b64encode(f"apikey:{raw_key}".encode()).decode()


SCREENS = ("Lobby", "Promotions", "Cashier", "Live casino", "Bet slip")


def sk_event(i: int, when: dt.datetime) -> dict:
    """One event as an app logs it: a screen view, a purchase or a page load, with typed parameters."""
    at = (when + dt.timedelta(milliseconds=3 * i)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    screen = SCREENS[i % len(SCREENS)]
    if i % 5 == 4:
        return {"name": "page_load_event", "loggedAtTime": at, "parameters": [
            {"attributeName": "requestCount", "dataType": "Number", "numberValue": 10 + i % 50},
            {"attributeName": "loadTime", "dataType": "Number", "numberValue": 0.5 + (i % 30) / 10},
            {"attributeName": "pageUrl", "dataType": "String", "stringValue": f"https://casino.example/#/{screen}"},
        ]}  # fmt: skip
    return {"name": "Purchase Product" if i % 5 == 3 else "Screen View", "loggedAtTime": at, "parameters": [
        {"attributeName": "Module", "dataType": "String", "stringValue": screen},
        {"attributeName": "List Price", "dataType": "Number", "numberValue": round(1 + (i % 97) * 0.5, 2)},
        {"attributeName": "Discount Applied", "dataType": "Boolean", "booleanValue": i % 2 == 0},
        {"attributeName": "Delivered", "dataType": "Date", "stringValue": at},
    ]}  # fmt: skip


def bodies(count: int, batch: int, players: int, start: dt.datetime) -> list[dict]:
    """`count` events in batches of `batch`, each batch one user's (as the SDK sends them)."""
    found = []
    for b, first in enumerate(range(0, count, batch)):
        user = f"u-{(b * 7919) % players}"
        events = [sk_event(i, start) for i in range(first, min(first + batch, count))]
        found.append({"events": events, "userId": user, "appId": APP_ID, "platform": "Web",
                      "sessionId": f"s-{b}", "deviceId": f"d-{user}", "customerAccountId": f"acc-{b % 20}",
                      "appVersion": "5.2.1"})  # fmt: skip
    return found


def floor_rows(requests: list[dict], label_id: int, players: dict[str, int]) -> list[tuple]:
    """The crm_event rows the same events make, as ingest writes them (translated, validated and digested)."""
    from integrations.smartkarrot.usage import parse
    from integrations.smartkarrot.usage.translate import usage_events

    now = dt.datetime.now(dt.UTC)
    raws = []
    for body in requests:
        for n, event in enumerate(usage_events(parse.events(body, now))):
            raws.append({"event_id": f"{body['sessionId']}-{n}", "type": event.type, "ext_brand_id": "bench-casino",
                         "user_ext_id": body["userId"], "occurred_at": event.occurred_at.isoformat(),
                         "payload": event.payload})  # fmt: skip
    return event_rows(raws, label_id, players)


def post_all(port: int, raw_key: str, payloads: list[bytes], clients: int, expect: str) -> float:
    """POST every body from `clients` connections; the seconds it took. Each answer must count all its events as
    `expect` (accepted, or duplicate on a replay)."""
    headers = {"Authorization": basic(raw_key), "Content-Type": "application/json"}
    return post_concurrently(
        port, "/v4/usageanalytics/event", payloads, headers, clients,
        lambda status, result, body: status == 200 and result.get(expect) == len(orjson.loads(body)["events"]),
    )  # fmt: skip


def one_round(site: BenchSite, web: Gunicorn, raw_key: str, label, players, args, n: int) -> dict[str, float]:
    info = conninfo(site.db, site.name)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=2, hours=n)
    requests = bodies(args.events, args.batch, args.players, start)
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("TRUNCATE crm_event CASCADE")  # the floor counts the rows it stored
    rows = floor_rows(requests, label.pk, players)
    floor = max(copy_dedupe_floor(info, rows, c) for c in sorted({1, args.clients}))
    log(f"round {n}: floor, COPY + INSERT ... ON CONFLICT DO NOTHING, {len(rows):,} rows: {floor:,.0f} rows/s")
    payloads = [orjson.dumps(body) for body in requests]
    seconds = post_all(web.port, raw_key, payloads, args.clients, "accepted")
    fresh = rate(args.events, seconds)
    log(f"round {n}: POST /v4/usageanalytics/event, {len(payloads)} batches of {args.batch} from {args.clients} "
        f"clients: {args.events:,} events in {seconds:.2f} s = {fresh:,.0f} events/s")  # fmt: skip
    seconds = post_all(web.port, raw_key, payloads, args.clients, "duplicate")
    replay = rate(args.events, seconds)
    with psycopg.connect(info) as conn:
        stored = conn.execute("SELECT count(*) FROM crm_event").fetchone()[0]
    log(f"round {n}: the same batches again: {replay:,.0f} events/s, crm_event holds {stored:,} rows")
    if stored != args.events:
        raise RuntimeError(f"{stored} rows stored for {args.events} events")
    return {"copy_dedupe_rows_per_s": floor, "sk_events_per_s": fresh, "sk_replay_events_per_s": replay}


def run(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> dict[str, float]:
    site = bench_site(stack, workdir, "pitboss_bench_usage")
    label, players, raw_key = tenant(args.players)
    from crm.models import UsageApp

    UsageApp.objects.create(label=label, app_id=APP_ID, brand=label.brands.get())
    web = Gunicorn(site.env, workdir / "gunicorn.log", workers=args.web_workers)
    web.start()
    stack.callback(web.stop)
    warm = orjson.dumps(bodies(args.batch, args.batch, args.players, dt.datetime.now(dt.UTC) - dt.timedelta(days=9))[0])
    for _ in range(4 * args.web_workers):  # every web worker imports and connects before the clock starts
        request(web.port, "POST", "/v4/usageanalytics/event", warm, {"Authorization": basic(raw_key)})
    best: dict[str, float] = {}
    for n in range(args.rounds):
        for key, value in one_round(site, web, raw_key, label, players, args, n).items():
            best[key] = max(best.get(key, 0.0), value)
    best["sk_ratio"] = best["sk_events_per_s"] / best["copy_dedupe_rows_per_s"]
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per round")
    parser.add_argument("--batch", type=int, default=500, help="events per request (at most 1,000)")
    parser.add_argument("--players", type=int, default=2_000)
    parser.add_argument("--web-workers", type=int, default=3, choices=range(2, 5), help="gunicorn workers (2-4)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent API clients")
    parser.add_argument("--rounds", type=int, default=2, help="floor / API turns; the best of each is kept")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (their folder is printed)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-bench-usage-"))
    with ExitStack() as stack:
        if not args.keep_logs:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        results = run(args, stack, workdir)
    log(f"target sk_ratio >= 0.2: {'met' if results['sk_ratio'] >= 0.2 else 'MISSED'}")
    keys = ["sk_events_per_s", "copy_dedupe_rows_per_s", "sk_ratio", "sk_replay_events_per_s"]
    print(orjson.dumps({k: round(results[k], 3) for k in keys}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
