"""Gamification speed against its targets and floors, measured in one self-contained run (issue 4, "Speed").

`.venv/bin/python bench/gamification.py` (or `make bench-gamification`) creates its own database on the configured
PostgreSQL (DATABASE_URL) or the embedded one and a private Redis broker (facts that handlers emit are dispatched to
it, as in production; nothing consumes them), migrates, and works in this process with the production settings,
through the same code a request or a worker runs. It prints its figures, and as its last line one JSON object:

  top100_p95_ms          leaderboard_top(instance, 100) at 1,000,000 registered participants, p95 of warm calls
  rank_p95_ms            leaderboard_rank(instance, a random participant), p95               (targets: each < 20 ms)
  floor_top100_p95_ms    the same ORDER BY ... LIMIT 100 through a bare psycopg cursor
  floor_rank_p95_ms      the naive exact rank: count(*) of everyone ahead, bare psycopg, no buckets
  score_updates_per_s    scores_apply on 1,000-update micro-batches, a transaction each, from the 60,000 players
                         active now (a bare UPDATE of the same kind of rows is shown beside it) (target >= 20,000)
  pipeline_events_per_s_bare      the gamification consumer group reading a backlog with no handler (pages of
                                  PITBOSS_PIPELINE_PAGE events per partition, positions, stats): the log's own cost
  log_read_events_per_s           the same figure, under the name bench/ingest.py uses
  group_ceiling_events_per_s      the group doing only its unavoidable writes on a backlog of its own: one bare
                                  UPDATE per page adding the page's scores to the participants its events score
                                  (no buckets, no registrations), and one write of each scoring player's mission
                                  progress document per page (the document as stored, written again)
  pipeline_events_per_s_gamified  the group with its handlers (missions, tournaments), 50 active missions and 5
                                  started tournaments, after a warm-up backlog of the same players
  gamification_group_ratio        gamified / ceiling                                                (target >= 0.5)
  gamification_group_cpu_ratio    the ceiling's CPU per event / the gamified run's, each this process's CPU and the
                                  database server's (/proc, Linux) over the run: the work, whatever the host's load
  pipeline_ratio                  gamified / bare                                                   (target >= 0.5)

Each backlog is written (COPY, one transaction) just before its run, and the run is the group consuming it through
`crm.pipeline.pipeline_drain` in this process, with the handlers of that run registered in the group.

`--warmups N` runs N warm-up backlogs first (default 1). With one, most of the measured events are a player's first
for a mission (half the events spread over 9,000 players, three events each), so the measured run is mostly runs
starting; with four or more, most runs have started and the run measures counting. `--profile FILE` writes a cProfile
of the measured run (its times about double); `--statements N` prints the N statements it spent most time in.

Participants, players and bucket counts are written by set-based SQL (the bucket rule in SQL is checked against
`score_bucket`); missions and tournaments with the ORM. Every loop is bounded in count; the database is dropped and
the broker stopped at the end, also after a failure.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import math
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

import orjson
import psycopg

from bench import gamification_data as data
from bench.ingest import (
    bench_site,
    conninfo,
    copy_rows,
    event_rows,
)
from bench.procs import children_cpu, local_postmaster

KEYS = ["top100_p95_ms", "rank_p95_ms", "floor_top100_p95_ms", "floor_rank_p95_ms", "score_updates_per_s",
        "pipeline_events_per_s_bare", "log_read_events_per_s", "group_ceiling_events_per_s",
        "pipeline_events_per_s_gamified", "gamification_group_ratio", "gamification_group_cpu_ratio",
        "pipeline_ratio"]  # fmt: skip
_TOP_FLOOR = """SELECT player_id, score, reached_at, events_counted FROM gamification_tournamentparticipant
WHERE instance_id = %s AND status = 'registered' ORDER BY score DESC, reached_at, id LIMIT 100"""
_RANK_FLOOR = """SELECT count(*) + 1 FROM gamification_tournamentparticipant p,
  (SELECT id, score, reached_at FROM gamification_tournamentparticipant
   WHERE instance_id = %(i)s AND player_id = %(p)s AND status = 'registered') me
WHERE p.instance_id = %(i)s AND p.status = 'registered'
  AND (p.score > me.score OR (p.score = me.score AND (p.reached_at, p.id) < (me.reached_at, me.id)))"""


def log(message: str) -> None:
    print(message, flush=True)


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def timed_calls(call, args: list) -> tuple[list[float], list]:
    """Milliseconds of each `call(arg)` and what each returned."""
    times, answers = [], []
    for arg in args:
        started = time.perf_counter()
        answers.append(call(arg))
        times.append((time.perf_counter() - started) * 1000)
    return times, answers


@contextmanager
def step(title: str):
    started = time.monotonic()
    yield
    log(f"{title}: {time.monotonic() - started:.1f} s")


def sql(statement: str, params=None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


# --- leaderboard reads ----------------------------------------------------------------------------------------------


def leaderboard_setup(label, brand, since: dt.datetime, until: dt.datetime, args) -> object:
    with step(f"{args.participants:,} players written by INSERT ... SELECT generate_series"):
        data.players_insert(label.pk, brand.pk, args.participants, "u-")
    big = data.tournament_create(label, "Bet race", since, until, event_type="casino_bet", score_method="sum",
                                 score_field="bet_amount")  # fmt: skip
    with step(f"{args.participants:,} participants registered with skewed scores (10% at zero)"):
        data.participants_insert(big.pk, label.pk, since, zero_share=0.1)
    with step("bucket counts built by one INSERT ... SELECT ... GROUP BY"):
        buckets = data.buckets_build(big.pk)
    checked = data.bucket_rule_check(big.pk)
    log(f"check: the SQL bucket rule equals score_bucket() on {checked:,} scores; {buckets:,} buckets")
    with step("VACUUM ANALYZE"):
        for table in ("crm_player", "gamification_tournamentparticipant", "gamification_leaderboardbucket"):
            sql(f"VACUUM ANALYZE {table}")
    return big


def leaderboard_phase(info: str, instance_id: int, args) -> dict[str, float]:
    from gamification.selectors.leaderboard import leaderboard_rank, leaderboard_top

    rng = random.Random(7)
    everyone = [row[0] for row in sql("SELECT player_id FROM gamification_tournamentparticipant WHERE instance_id = %s",
                                      [instance_id])]  # fmt: skip
    sample = rng.sample(everyone, args.calls)
    with psycopg.connect(info, autocommit=True) as conn, conn.cursor() as cur:

        def floor_top(_):
            cur.execute(_TOP_FLOOR, [instance_id])
            return cur.fetchall()

        def floor_rank(pid):
            cur.execute(_RANK_FLOOR, {"i": instance_id, "p": pid})
            return cur.fetchone()[0]

        # Warm, as a live leaderboard is: the naive count reads the whole leaderboard index once, then each path
        # runs a few calls (connections, plans, the bucket rows) before its clock starts.
        timed_calls(floor_rank, rng.sample(everyone, 3))
        timed_calls(floor_top, range(20))
        timed_calls(lambda _: leaderboard_top(instance_id=instance_id, limit=100), range(20))
        timed_calls(lambda pid: leaderboard_rank(instance_id=instance_id, player_id=pid), rng.sample(everyone, 50))
        top_ms, tops = timed_calls(lambda _: leaderboard_top(instance_id=instance_id, limit=100), range(args.calls))
        rank_ms, ranks = timed_calls(lambda pid: leaderboard_rank(instance_id=instance_id, player_id=pid), sample)
        floor_top_ms, floor_tops = timed_calls(floor_top, range(args.calls))
        floor_rank_ms, floor_places = timed_calls(floor_rank, sample[: args.floor_rank_calls])

    same_top = [(s.player_id, s.score) for s in tops[0]] == [(r[0], r[1]) for r in floor_tops[0]]
    same_rank = [s.place for s in ranks[: args.floor_rank_calls]] == floor_places
    log(f"check: leaderboard_top equals the floor's rows: {same_top}; leaderboard_rank equals the exact count on "
        f"{args.floor_rank_calls} players: {same_rank}")  # fmt: skip
    if not (same_top and same_rank and len(tops[0]) == 100):
        raise RuntimeError("the leaderboard answers differ from the floor's")
    zero = [ms for ms, s in zip(rank_ms, ranks, strict=True) if s.score == 0]
    results = {"top100_p95_ms": p95(top_ms), "rank_p95_ms": p95(rank_ms), "floor_top100_p95_ms": p95(floor_top_ms),
               "floor_rank_p95_ms": p95(floor_rank_ms)}  # fmt: skip
    log(f"top 100, {args.calls} warm calls through Django: p50 {sorted(top_ms)[len(top_ms) // 2]:.2f} ms, "
        f"p95 {results['top100_p95_ms']:.2f} ms; floor (bare psycopg, same query): p95 "
        f"{results['floor_top100_p95_ms']:.2f} ms")  # fmt: skip
    log(f"rank of a random participant, {args.calls} calls through Django: p50 {sorted(rank_ms)[len(rank_ms) // 2]:.2f}"
        f" ms, p95 {results['rank_p95_ms']:.2f} ms, max {max(rank_ms):.2f} ms ({len(zero)} of them tied at score 0: "
        f"max {max(zero, default=0):.2f} ms); floor (naive exact count(*), bare psycopg, {args.floor_rank_calls} "
        f"calls): p95 {results['floor_rank_p95_ms']:.2f} ms")  # fmt: skip
    return results


# --- score updates --------------------------------------------------------------------------------------------------


def scores_rate(instance_id: int, batches: list[list]) -> tuple[float, int]:
    from django.db import transaction

    from gamification.services.leaderboard import scores_apply

    rules, changed = {instance_id: ("sum", None)}, 0
    started = time.perf_counter()
    for batch in batches:
        with transaction.atomic():
            changed += scores_apply(updates=batch, rules=rules)
    return sum(map(len, batches)) / (time.perf_counter() - started), changed


def scores_phase(info: str, instance_id: int, args) -> dict[str, float]:
    """Live scoring: the updates come from the players active now, `--active-participants` of the instance (a third
    of them still at zero); the same on players drawn from all participants (cold pages) is shown beside it."""
    rng = random.Random(11)
    rows = sql("SELECT player_id, score = 0 FROM gamification_tournamentparticipant WHERE instance_id = %s",
               [instance_id])  # fmt: skip
    zero = [pid for pid, at_zero in rows if at_zero]
    scored = [pid for pid, at_zero in rows if not at_zero]
    # Two disjoint active sets of the same make-up: the floor's rolled-back row versions must not slow ours down.
    zeros = rng.sample(zero, 2 * (args.active_participants // 3))
    scoreds = rng.sample(scored, 2 * (args.active_participants * 2 // 3))
    ours, theirs = (zeros[::2], scoreds[::2]), (zeros[1::2], scoreds[1::2])
    sql("SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %s AND player_id = ANY(%s)",
        [instance_id, zeros + scoreds])  # fmt: skip
    floor = data.update_floor(info, instance_id, data.score_batches(instance_id, theirs, args, rng))
    per_second, changed = scores_rate(instance_id, data.score_batches(instance_id, ours, args, rng))
    total = args.score_batches * args.score_batch
    log(f"scores_apply, {args.score_batches} batches of {args.score_batch:,} updates (a transaction each) from "
        f"{args.active_participants:,} active players of {len(rows):,} participants: {total:,} updates = "
        f"{per_second:,.0f} updates/s ({changed:,} participant changes); floor, one bare UPDATE per batch on "
        f"another {args.active_participants:,} (rolled back): {floor:,.0f} rows/s")  # fmt: skip
    cold = argparse.Namespace(score_batches=max(args.score_batches // 5, 1), score_batch=args.score_batch)
    cold_rate, _ = scores_rate(instance_id, data.score_batches(instance_id, (zero, scored), cold, rng))
    log(f"  (for comparison, updates to players drawn from all {len(rows):,} participants, mostly pages not in "
        f"PostgreSQL's buffers: {cold_rate:,.0f} updates/s over {cold.score_batches} batches)")  # fmt: skip
    kept = data.buckets_match(instance_id)
    log(f"check: bucket counts equal a recount of the scores after the updates: {kept}")
    if not kept:
        raise RuntimeError("the bucket counts drifted")
    return {"score_updates_per_s": per_second}


# --- the processing pipeline ----------------------------------------------------------------------------------------


def pipeline_setup(label, since: dt.datetime, until: dt.datetime, args) -> tuple[list[str], dict[str, int]]:
    """5 started tournaments (the big one and four more) and 50 active missions for the pipeline's players."""
    users = [f"u-{n}" for n in range(1, args.pipeline_players + 1)]
    players = dict(sql("SELECT user_ext_id, id FROM crm_player WHERE label_id = %s AND user_ext_id = ANY(%s)",
                       [label.pk, users]))  # fmt: skip
    data.tournaments_more(label, since, until)
    opted_in = sorted(random.Random(5).sample(list(players.values()), len(players) // 20))
    kinds = data.missions_create(label, since, opted_in)
    log(
        f"50 active missions ({', '.join(f'{n} {kind}' for kind, n in sorted(kinds.items()))}), opt-in ones with "
        f"{len(opted_in):,} of {len(players):,} players opted in; 5 started tournaments, automatic registration"
    )
    return users, players


def backlog_write(
    info: str, label, users: list[str], players: dict[str, int], n: int, prefix: str, origin: dt.datetime, args
) -> int:
    """`args.events` events of the players (COPY, one transaction, so one tick delivers them); their count. Every
    backlog's events are timed from `origin` (the measured one a span later), not from when it is written, so what
    windows and time limits hold does not depend on how long the runs before it took."""
    span = dt.timedelta(milliseconds=40 * args.events)  # make_events spaces events 40 ms apart
    start = origin - 2 * span - dt.timedelta(minutes=1) + (prefix == "gamified") * span
    events = data.make_events(args.events, prefix, users, start, seed=n + 1)
    with psycopg.connect(info) as conn, conn.transaction(), conn.cursor() as cur:
        copy_rows(cur, "crm_event", event_rows(events, label.pk, players))
    sql("VACUUM ANALYZE crm_event")
    return len(events)


@dataclass(frozen=True)
class GroupRun:
    events_per_s: float
    cpu_per_event_us: float  # this process's CPU and the database server's, per event applied


def group_run(count: int, handlers: list, args, title: str) -> GroupRun:
    """The gamification group consuming the newest backlog with `handlers`; prints the time in each, and the CPU this
    process and the database server spent (the work the run took, whatever the host's other load)."""
    from django.db import connection

    from crm import pipeline

    timings: dict[str, float] = defaultdict(float)

    def timed(name, func):
        def run(events):
            started = time.perf_counter()
            try:
                func(events)
            finally:
                timings[name] += time.perf_counter() - started

        return run

    statements: dict[str, list] = defaultdict(lambda: [0, 0.0])

    def statement_timed(execute, statement, params, many, context):
        started = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            spent = statements[" ".join(statement.split())[:100]]
            spent[0], spent[1] = spent[0] + 1, spent[1] + time.perf_counter() - started

    pipeline._GROUPS["gamification"] = [pipeline._Registered(r.order, r.name, timed(r.name, r.func)) for r in handlers]
    measured = title == "measured"
    profiler = cProfile.Profile() if args.profile and measured else None
    postmaster = local_postmaster(sql("SELECT pg_backend_pid()")[0][0])  # None: a server on another host, not counted
    server_cpu = children_cpu(postmaster) if postmaster else math.nan
    cpu, started = time.process_time(), time.perf_counter()
    with ExitStack() as stack:
        if args.statements and measured:
            stack.enter_context(connection.execute_wrapper(statement_timed))
        if profiler:
            profiler.enable()
            stack.callback(profiler.disable)
        done = pipeline.pipeline_drain(group_names=["gamification"], budget_seconds=args.pipeline_budget)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = children_cpu(postmaster) - server_cpu if postmaster else math.nan
    if profiler:
        profiler.dump_stats(args.profile)
        log(f"  the measured run's profile (its times inflated by cProfile): {args.profile}")
    failed = sql("SELECT count(*) FROM pipeline_failure WHERE resolved_at IS NULL")[0][0]
    if failed:
        log(f"WARNING: {failed:,} events failed in the group (see pipeline_failure)")
    if done < count:
        log(f"WARNING: stopped after the {args.pipeline_budget:.0f} s budget, {done:,} of {count:,} events applied")
    names = ", ".join(r.name for r in handlers) or "none"
    log(f"pipeline, gamification group, {title}, {done:,} events, handlers {names}: {seconds:.2f} s = "
        f"{done / seconds:,.0f} events/s")  # fmt: skip
    spent = ", ".join(f"{name} {spent:.2f} s" for name, spent in timings.items())
    rest = seconds - sum(timings.values())
    log(f"  time in each handler: {spent or '-'}; reading, positions and commits {rest:.2f} s")
    server = f"{server_cpu:.2f} s" if postmaster else "not counted (on another host)"
    log(f"  CPU: this process {cpu:.2f} s, the database server {server} "
        f"({1e6 * (cpu + server_cpu) / max(done, 1):.0f} µs per event)")  # fmt: skip
    for statement, (calls, spent) in sorted(statements.items(), key=lambda kv: -kv[1][1])[: args.statements]:
        log(f"    {spent:6.3f} s {calls:5,} calls  {statement}")
    return GroupRun(done / seconds, 1e6 * (cpu + server_cpu) / max(done, 1))


_SCORES_FLOOR = """UPDATE gamification_tournamentparticipant AS p SET score = p.score + u.v,
    events_counted = p.events_counted + u.n, reached_at = greatest(p.reached_at, u.t)
FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::int[], %s::timestamptz[]) AS u(i, player_id, v, n, t)
WHERE p.instance_id = u.i AND p.player_id = u.player_id AND p.status = 'registered'"""
# The missions' unavoidable write: each player of the page who counts for a mission has their progress document
# rewritten (`runs || '{}'` is a new value of the same size, stored again as the handler's merge is; touching only
# `updated_at` would keep the stored document and cost a tenth of it).
_PROGRESS_FLOOR = """UPDATE gamification_missionprogress SET runs = runs || '{}'::jsonb, updated_at = now()
WHERE player_id = ANY(%s)"""


def scores_floor_handler(events) -> None:
    """The leaderboard writes alone: the batch's scores (matched by the tournaments handler's own `score_matches`)
    summed per participant, one bare UPDATE."""
    from django.db import connection

    from gamification.handlers.tournaments import score_matches

    totals: dict[tuple[int, int], list] = {}
    for instance, event, value in score_matches(events):
        total = totals.setdefault((instance.id, event.player_id), [0, 0, event.occurred_at])
        total[0], total[1], total[2] = total[0] + value, total[1] + 1, max(total[2], event.occurred_at)
    keys = sorted(totals)
    with connection.cursor() as cursor:
        cursor.execute(_SCORES_FLOOR, [[k[0] for k in keys], [k[1] for k in keys], [totals[k][0] for k in keys],
                                       [totals[k][1] for k in keys], [totals[k][2] for k in keys]])  # fmt: skip


def progress_floor_handler(events) -> None:
    """One write per player of the page whose events a mission counts (the casino and sport bets, deposits and logins
    the bench's missions are about), to the row the missions handler keeps per player."""
    from django.db import connection

    counted = {"casino_bet", "casino_win", "sport_bet_placed", "deposit", "login"}
    players = sorted({e.player_id for e in events if e.type in counted})
    with connection.cursor() as cursor:
        cursor.execute(_PROGRESS_FLOOR, [players])


def pipeline_phase(info: str, label, since: dt.datetime, until: dt.datetime, args) -> dict[str, float]:
    from crm import pipeline

    users, players = pipeline_setup(label, since, until, args)
    pipeline.pipeline_drain(group_names=["gamification"])  # the group's position reaches the present
    saved = list(pipeline._GROUPS["gamification"])
    floors = [pipeline._Registered(30, "progress floor", progress_floor_handler),
              pipeline._Registered(40, "scores floor", scores_floor_handler)]  # fmt: skip
    warmups = tuple((f"warmup{n or ''}", saved, "warm-up (the players' first events)") for n in range(args.warmups))
    runs = (*warmups, ("bare", [], "no handlers"),
            ("ceiling", floors, "only the unavoidable writes"), ("gamified", saved, "measured"))  # fmt: skip
    runs_done: dict[str, GroupRun] = {}
    origin = dt.datetime.now(dt.UTC)
    try:
        for n, (prefix, handlers, title) in enumerate(runs):
            with step(f"a backlog of {args.events:,} events written (COPY) for {len(players):,} players"):
                count = backlog_write(info, label, users, players, n, prefix, origin, args)
            runs_done[prefix] = group_run(count, handlers, args, title)
    finally:
        pipeline._GROUPS["gamification"] = saved
    rates = {prefix: done.events_per_s for prefix, done in runs_done.items()}
    results = {
        "pipeline_events_per_s_bare": rates["bare"],
        "log_read_events_per_s": rates["bare"],
        "group_ceiling_events_per_s": rates["ceiling"],
        "pipeline_events_per_s_gamified": rates["gamified"],
        "gamification_group_ratio": rates["gamified"] / rates["ceiling"],
        "gamification_group_cpu_ratio": runs_done["ceiling"].cpu_per_event_us / runs_done["gamified"].cpu_per_event_us,
        "pipeline_ratio": rates["gamified"] / rates["bare"],
    }
    ratio, share = results["pipeline_ratio"], results["gamification_group_ratio"]
    log(f"ceiling: the unavoidable writes keep {rates['ceiling'] / rates['bare']:.2f} of the bare rate; every handler "
        f"together {ratio:.3f}, {share:.3f} of the ceiling")  # fmt: skip
    effects = sql(
        """SELECT (SELECT count(*) FROM gamification_playermission), (SELECT count(*) FROM gamification_playermission
                   WHERE state IN ('completed', 'claimed')), (SELECT count(*) FROM gamification_missionprogress),
                  (SELECT coalesce(sum(p.events_counted), 0) FROM gamification_tournamentparticipant p
                    JOIN gamification_tournamentinstance i ON i.id = p.instance_id
                    JOIN gamification_tournament t ON t.id = i.tournament_id WHERE t.name <> 'Bet race'),
                  (SELECT count(*) FROM crm_event WHERE source = 'system'),
                  (SELECT coalesce(sum(delta), 0) FROM gamification_missionopendelta)"""
    )[0]
    log(
        "  effects: {:,} player missions ({:,} completed), {:,} players' progress rows, "
        "{:,} events counted by the four smaller tournaments, {:,} facts emitted, "
        "{:,} runs open without a row".format(*effects)
    )
    return results


# --- the run --------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, stack: ExitStack, workdir: Path) -> dict[str, float]:
    site = bench_site(stack, workdir, "pitboss_bench_gam")
    db, name = site.db, site.name
    from django.db import connections

    from backoffice.runtime import gc_settle

    gc_settle()  # what a Celery worker does once loaded (backoffice/celery.py): this process stands in for one

    stack.callback(connections.close_all)  # before the database is dropped
    from backoffice.models import Brand, Label
    from crm.pipeline import registered

    log(f"pipeline handlers registered: {', '.join(registered())}")
    version, buffers, wal = sql("SELECT current_setting('server_version'), current_setting('shared_buffers'),"
                                " current_setting('max_wal_size')")[0]  # fmt: skip
    log(f"PostgreSQL {version}, shared_buffers {buffers}, max_wal_size {wal}")
    label = Label.objects.create(name=f"Bench {uuid.uuid4().hex[:6]}")
    brand = Brand.objects.create(label=label, name="Bench casino", ext_brand_id="bench-casino")
    now = dt.datetime.now(dt.UTC)
    since, until = now - dt.timedelta(days=1), now + dt.timedelta(days=1)
    info = conninfo(db, name)
    results: dict[str, float] = {}
    big = leaderboard_setup(label, brand, since, until, args)
    results.update(leaderboard_phase(info, big.pk, args))
    results.update(scores_phase(info, big.pk, args))
    results.update(pipeline_phase(info, label, since, until, args))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1_000_000, help="players registered in the big instance")
    parser.add_argument("--calls", type=int, default=300, help="timed calls of top 100 and of rank")
    parser.add_argument("--floor-rank-calls", type=int, default=100, help="timed calls of the naive rank count")
    parser.add_argument("--score-batches", type=int, default=100)
    parser.add_argument("--score-batch", type=int, default=1000, help="updates per scores_apply call")
    parser.add_argument(
        "--active-participants", type=int, help="players scoring during the run (default: 6%% of them, at most 60,000)"
    )
    parser.add_argument("--events", type=int, default=30_000, help="events in each pipeline backlog")
    parser.add_argument("--pipeline-players", type=int, default=10_000, help="players the events belong to")
    parser.add_argument("--pipeline-budget", type=float, default=150.0, help="seconds at most per pipeline run")
    parser.add_argument("--keep-logs", action="store_true", help="keep the migrate and broker logs")
    parser.add_argument("--warmups", type=int, default=1, help="warm-up backlogs before the measured ones")
    parser.add_argument("--profile", default="", help="write a cProfile of the measured pipeline run to this file")
    parser.add_argument("--statements", type=int, default=0, metavar="N",
                        help="print the N statements the measured run spent most time in")  # fmt: skip
    args = parser.parse_args()
    if args.active_participants is None:
        args.active_participants = min(60_000, args.participants * 6 // 100)
    if args.pipeline_players > args.participants:
        parser.error("--pipeline-players cannot exceed --participants")
    if args.active_participants > args.participants * 0.15:  # two disjoint sets, a third of each at zero (10%)
        parser.error("--active-participants can be at most 15% of --participants")
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-bench-gam-"))
    with ExitStack() as stack:
        if not args.keep_logs:
            stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        started = time.monotonic()
        results = run(args, stack, workdir)
    targets = [
        ("top100_p95_ms < 20", results["top100_p95_ms"] < 20),
        ("rank_p95_ms < 20", results["rank_p95_ms"] < 20),
        ("score_updates_per_s >= 20,000", results["score_updates_per_s"] >= 20_000),
        ("pipeline_ratio >= 0.5", results["pipeline_ratio"] >= 0.5),
        ("gamification_group_ratio >= 0.5", results["gamification_group_ratio"] >= 0.5),
    ]
    for target, met in targets:
        log(f"target {target}: {'met' if met else 'MISSED'}")
    log(f"whole run {time.monotonic() - started:.0f} s")
    print(orjson.dumps({k: round(results[k], 3) for k in KEYS}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
