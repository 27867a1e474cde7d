"""The event pipeline with real processes: gunicorn serving the API on loopback against the test database, pipeline
workers of both consumer groups SIGKILLed mid-page, a private Redis broker stopped for 30 s, and garbage. Nothing
accepted may be lost or applied twice, in any group: the aggregates (crm group), mission progress, the points ledger and
a tournament's leaderboard (gamification group) must equal a replay of the accepted events computed here in Python.
Every loop is bounded in count and time; latencies are printed (run with -s), never asserted."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import queue
import random
import shutil
import socket
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from django.db import connection

from backoffice.services.apikeys import api_key_create
from bench.procs import LOOPBACK, Gunicorn, PipelineWorker, Redis, database_url, process_env, request
from crm import pipeline
from crm.models import Event, Player, PlayerAggregate
from crm.services.ingest import MAX_BATCH
from gamification.models import Mission, PlayerMission, TournamentInstance, TournamentParticipant, WalletEntry
from gamification.selectors import missions_for_player
from tests.factories import BrandFactory, LabelFactory
from tests.gamification.mission_helpers import mission_make
from tests.gamification.tournament_helpers import instance_make, tournament_make

pytestmark = [
    pytest.mark.stack,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)"
    ),
]
LEASE_SECONDS = 3  # a killed worker's partitions are taken over this soon
WEB_WORKERS = 2
MISSION_LOGINS, MISSION_POINTS = 3, 5
ENTRY_POINTS = ("lobby", "mobile", "app", "desktop")


@dataclass
class Stack:
    env: dict[str, str]
    web: Gunicorn
    broker: Redis
    logs: Path


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A Redis of this module's own: other runs share the machine's broker, and this one gets stopped."""
    redis = Redis(tmp_path_factory.mktemp("redis"))
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def stack(django_db_setup, tmp_path_factory, broker):
    logs = tmp_path_factory.mktemp("stack")
    env = process_env(
        database_url(connection.settings_dict),
        broker.url,
        "backoffice.settings.test",
        PITBOSS_PIPELINE_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    web = Gunicorn(env, logs / "gunicorn.log", workers=WEB_WORKERS)
    web.start()
    yield Stack(env=env, web=web, broker=broker, logs=logs)
    web.stop()


@pytest.fixture
def workers(stack):
    """Three `manage.py pipeline_work` processes: one per group, and one consuming both (so each group's partitions
    are shared between two workers and taken over when one dies)."""
    processes = [
        PipelineWorker(stack.env, stack.logs / f"pipeline-{name}-{uuid.uuid4().hex[:6]}.log", groups=groups)
        for name, groups in (("crm", ("crm",)), ("gamification", ("gamification",)), ("both", ()))
    ]
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()


@pytest.fixture
def partner(db):
    """A label with one brand and its partner key, a mission (3 logins: 5 points) and a running tournament of
    casino bets with automatic registration."""
    label = LabelFactory()
    BrandFactory(label=label, ext_brand_id="casino-1")
    _, raw = api_key_create(label=label, name="reliability")
    mission = mission_make(label, name="Three logins", reward_points=MISSION_POINTS,
                           tasks=[{"event_type": "login", "conditions": [], "target": MISSION_LOGINS}])  # fmt: skip
    # Activated long enough ago that its runs are open without a row (the path most runs take): each is written once,
    # when it completes, whatever the kills and the replays.
    Mission.objects.filter(pk=mission.pk).update(activated_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=4)
    tournament = tournament_make(label, name="Bets race", starts_at=start, duration=dt.timedelta(hours=8),
                                 registration_type="auto")  # fmt: skip
    instance_make(tournament, status="started")
    return label, raw


# --- traffic --------------------------------------------------------------------------------------------------------


def make_events(count: int, prefix: str, players: int) -> list[dict]:
    """A mix of every counted type, amounts exact in binary, one distinct time per event (no ties to break)."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    kinds = ["deposit", "casino_bet", "casino_win", "login", "casino_bet", "withdrawal", "sport_bet_placed",
             "sport_bet_settled", "client_action"]  # fmt: skip
    events = []
    for i in range(count):
        kind, amount = kinds[i % len(kinds)], (i % 89) + 0.25
        payload = {
            "deposit": {"deposit_amount": amount},
            "withdrawal": {"withdrawal_amount": amount},
            "casino_bet": {"bet_amount": amount, "game_id": "g-7", "game_name": "Starburst"},
            "casino_win": {"win_amount": amount, "game_id": "g-7", "game_name": "Starburst"},
            "sport_bet_placed": {"bet_amount": amount},
            "sport_bet_settled": {"bet_amount": amount, "result": "won", "win_amount": amount * 2},
            "login": {"entry_point": ENTRY_POINTS[i % len(ENTRY_POINTS)]},
            "client_action": {"action": "opened_cashier"},
        }[kind]
        occurred = start + dt.timedelta(milliseconds=250 * i)
        events.append({"event_id": f"{prefix}-{i:06}", "type": kind, "ext_brand_id": "casino-1",
                       "user_ext_id": f"u-{(i * 7919) % players}", "occurred_at": occurred.isoformat(timespec="milliseconds"),
                       "payload": payload})  # fmt: skip
    return events


def expected_aggregates(events: list[dict]) -> dict[str, dict]:
    """What the aggregates must hold once every event was applied exactly once."""
    zero = {"deposit_count": 0, "deposit_sum": Decimal(0), "first_deposit_at": None, "last_deposit_at": None,
            "withdrawal_count": 0, "withdrawal_sum": Decimal(0), "bet_count": 0, "bet_sum": Decimal(0),
            "win_sum": Decimal(0), "login_count": 0, "last_login_at": None, "last_entry_point": ""}  # fmt: skip
    totals: dict[str, dict] = defaultdict(lambda: dict(zero))
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        kind, payload, row = event["type"], event["payload"], None
        if kind != "client_action":
            row = totals[event["user_ext_id"]]
        if kind == "deposit":
            row["deposit_count"] += 1
            row["deposit_sum"] += Decimal(str(payload["deposit_amount"]))
            row["first_deposit_at"] = row["first_deposit_at"] or dt.datetime.fromisoformat(event["occurred_at"])
            row["last_deposit_at"] = dt.datetime.fromisoformat(event["occurred_at"])
        elif kind == "withdrawal":
            row["withdrawal_count"] += 1
            row["withdrawal_sum"] += Decimal(str(payload["withdrawal_amount"]))
        elif kind in ("casino_bet", "sport_bet_placed"):
            row["bet_count"] += 1
            row["bet_sum"] += Decimal(str(payload["bet_amount"]))
        elif kind in ("casino_win", "sport_bet_settled"):
            row["win_sum"] += Decimal(str(payload["win_amount"]))
        elif kind == "login":
            row["login_count"] += 1
            row["last_login_at"] = dt.datetime.fromisoformat(event["occurred_at"])
            row["last_entry_point"] = payload["entry_point"]
    return dict(totals)


def expected_gamification(events: list[dict]) -> tuple[dict[str, int], dict[str, int]]:
    """Per player: the mission's points (3 logins: 5 points, once) and the tournament score (casino bets counted)."""
    logins, bets = Counter(), Counter()
    for event in events:
        if event["type"] == "login":
            logins[event["user_ext_id"]] += 1
        elif event["type"] == "casino_bet":
            bets[event["user_ext_id"]] += 1
    points = {user: MISSION_POINTS for user, n in logins.items() if n >= MISSION_LOGINS}
    return points, dict(bets)


def stored_gamification(label) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per player: points in the ledger, the tournament score, and the login task's progress."""
    points: dict[str, int] = defaultdict(int)
    for user, amount in WalletEntry.objects.filter(player__label=label, currency="points").values_list(
        "player__user_ext_id", "amount"
    ):
        points[user] += amount
    instance = TournamentInstance.objects.get(tournament__label=label)
    scores = {
        user: int(score)
        for user, score in TournamentParticipant.objects.filter(instance=instance).values_list(
            "player__user_ext_id", "score"
        )
    }
    progress = {}
    for player in Player.objects.filter(label=label):
        [view] = missions_for_player(player=player)
        progress[player.user_ext_id] = int(view.tasks[0].value)
    return dict(points), scores, progress


def stored_aggregates(label) -> dict[str, dict]:
    fields = ("deposit_count", "deposit_sum", "first_deposit_at", "last_deposit_at", "withdrawal_count", "withdrawal_sum", "bet_count", "bet_sum", "win_sum",
              "login_count", "last_login_at", "last_entry_point")  # fmt: skip
    rows = PlayerAggregate.objects.filter(label=label).values("player__user_ext_id", *fields)
    return {row.pop("player__user_ext_id"): row for row in rows}


@dataclass
class Sent:
    at: float  # seconds since the traffic started
    seconds: float
    status: int
    body: dict
    events: list[dict]


def send(port: int, raw_key: str, body, timeout: float = 15) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = {"Authorization": f"Api-Key {raw_key}", "Content-Type": "application/json"}
    status, answer = request(port, "POST", "/api/v1/events", data, headers, timeout=timeout)
    try:
        return status, orjson.loads(answer)
    except orjson.JSONDecodeError:
        return status, {"raw": answer[:500].decode(errors="replace")}


def send_paced(port: int, raw_key: str, batches: list[list[dict]], seconds: float, clients: int) -> list[Sent]:
    """Send each batch at its slot of an even schedule over `seconds`, with `clients` concurrent connections."""
    todo: queue.Queue = queue.Queue()
    for index, batch in enumerate(batches):
        todo.put((index * seconds / len(batches), batch))
    sent: list[Sent] = []
    start = time.monotonic()

    def client() -> None:
        while True:
            try:
                due, batch = todo.get_nowait()
            except queue.Empty:
                return
            time.sleep(max(0.0, start + due - time.monotonic()))
            began = time.monotonic()
            try:
                status, body = send(port, raw_key, batch)
            except OSError as exc:  # a refused or timed-out request is a failure the test reports
                status, body = 0, {"error": repr(exc)}
            sent.append(Sent(began - start, time.monotonic() - began, status, body, batch))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    assert not any(thread.is_alive() for thread in threads), "the clients did not finish"
    return sent


def item_statuses(sent: list[Sent]) -> dict[str, Counter]:
    """event_id -> how often it was answered accepted, duplicate..."""
    seen: dict[str, Counter] = defaultdict(Counter)
    for request_ in sent:
        for item in request_.body.get("results", []):
            seen[item["event_id"]][item["status"]] += 1
    return seen


def send_announcing(port: int, raw_key: str, content_length: int) -> tuple[int, dict]:
    """Announce a body of `content_length` bytes and send only its first 64 KiB: a body over the limit is refused
    from its announced length, before it is read."""
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nAuthorization: Api-Key {raw_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n")  # fmt: skip
    with socket.create_connection((LOOPBACK, port), timeout=30) as sock:
        sock.sendall(head.encode() + b"[" + b" " * 65535)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, orjson.loads(response.read())


_IN_A_PAGE = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')
  AND backend_xid IS NOT NULL AND application_name = '' AND query NOT LIKE '%%INSERT INTO crm_event%%'
  AND (query LIKE '%%crm_playeraggregate%%' OR query LIKE '%%pipeline_cursor%%' OR query LIKE '%%gamification_%%')
"""


def wait_for_a_page(timeout: float) -> bool:
    """Wait until a worker is inside a page's transaction (it has written something: its effects or its position);
    False if none was within `timeout`."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(_IN_A_PAGE)
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.002)
    return False


_PENDING = """
SELECT c.group_name, count(e.id) FROM pipeline_cursor c
  JOIN pipeline_tick t ON t.id = c.last_tick
  LEFT JOIN crm_event e ON (e.player_id %% 16)::int2 = c.part AND e.label_id = %s
       AND NOT pg_visible_in_snapshot(e.txid, t.snap)
 WHERE c.group_name = ANY(%s)
 GROUP BY c.group_name
"""


def pending(label) -> dict[str, int]:
    """Per group: events of `label` its position has not passed (an open window counts as not passed)."""
    with connection.cursor() as cursor:
        cursor.execute(_PENDING, [label.pk, pipeline.groups()])
        return dict(cursor.fetchall())


def wait_until_applied(label, timeout: float = 180) -> float:
    """Wait until every group has applied every event of `label`; return how long it took."""
    started = time.monotonic()
    while any(pending(label).values()):
        assert time.monotonic() - started < timeout, f"still pending after {timeout:.0f} s: {pending(label)}"
        time.sleep(0.2)
    return time.monotonic() - started


def latency_report(title: str, sent: list[Sent]) -> str:
    if not sent:
        return f"{title}: no requests"
    ms = sorted(s.seconds * 1000 for s in sent)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"{title}: {len(ms)} requests, median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, max {ms[-1]:.0f} ms"


def assert_all_applied_once(label, events: list[dict]) -> None:
    stored = Event.objects.filter(label=label, source="api")  # the rest are gamification's facts
    assert stored.count() == len(events)
    assert set(stored.values_list("event_id", flat=True)) == {e["event_id"] for e in events}
    with connection.cursor() as cursor:
        cursor.execute("SELECT group_name, count(*) FROM pipeline_failure WHERE label_id = %s GROUP BY 1", [label.pk])
        assert cursor.fetchall() == []
    assert stored_aggregates(label) == expected_aggregates(events)
    points, scores, progress = stored_gamification(label)
    expected_points, expected_scores = expected_gamification(events)
    assert points == expected_points
    assert scores == expected_scores
    logins = Counter(e["user_ext_id"] for e in events if e["type"] == "login")
    assert progress == {user: min(logins[user], MISSION_LOGINS) for user in progress}
    # One row per completed run, none for the runs still open (they count without one).
    runs = PlayerMission.objects.filter(player__label=label).values_list("player__user_ext_id", "state")
    assert sorted(runs) == sorted((user, "claimed") for user in expected_points)


# --- the tests ------------------------------------------------------------------------------------------------------


def test_ten_thousand_events_survive_worker_kills_and_resends(stack, workers, partner):
    label, raw_key = partner
    events = make_events(10_000, "k", players=300)
    rng = random.Random(20261121)
    batches = [events[i : i + 100] for i in range(0, len(events), 100)]
    for event in rng.sample(events, len(events) // 20):  # 5 % sent twice, in a later batch, among other events
        later = batches[rng.randrange(min(len(batches) - 1, int(event["event_id"][2:]) // 100 + 1), len(batches))]
        later.insert(rng.randrange(len(later) + 1), event)
    stop, kills = threading.Event(), []

    def kill_a_worker_every_few_seconds() -> None:
        # While the events come in, and after that until it has killed six times (a slow machine starts them slowly).
        deadline = time.monotonic() + 150
        try:
            while len(kills) < 20 and time.monotonic() < deadline and not (stop.is_set() and len(kills) >= 6):
                time.sleep(rng.uniform(1.0, 2.0))
                victim = rng.choice(workers)
                kills.append(wait_for_a_page(timeout=2.0))
                victim.kill()  # SIGKILL: its page's transaction rolls back; its leases expire after LEASE_SECONDS
                victim.start()
        finally:
            connection.close()

    killer = threading.Thread(target=kill_a_worker_every_few_seconds, daemon=True)
    killer.start()
    try:
        sent = send_paced(stack.web.port, raw_key, batches, seconds=20, clients=4)
    finally:
        stop.set()
        killer.join(timeout=200)
    assert not killer.is_alive()
    waited = wait_until_applied(label)
    print(f"\n{len(kills)} worker kills, {sum(kills)} inside a page; every group caught up {waited:.1f} s after the "
          "last kill; " + latency_report("ingest", sent))  # fmt: skip

    assert len(kills) >= 6, [w.output() for w in workers]
    assert sum(kills) >= 1, "no kill caught a worker inside a page"
    assert [(s.status, s.body) for s in sent if s.status != 202] == []
    statuses = item_statuses(sent)
    assert len(statuses) == len(events)
    assert {
        event_id: c for event_id, c in statuses.items() if c["accepted"] != 1 or set(c) - {"accepted", "duplicate"}
    } == {}
    assert sum(c["duplicate"] for c in statuses.values()) == len(events) // 20
    assert_all_applied_once(label, events)
    assert Player.objects.filter(label=label).count() == 300


def test_ingest_and_the_pipeline_go_on_while_the_broker_is_down(stack, workers, partner):
    """The log is the queue: with the broker away for 30 s, events are accepted and applied as usual."""
    label, raw_key = partner
    before, outage, after = 5.0, 30.0, 12.0
    events = make_events(int((before + outage + after) * 4 * 50), "b", players=200)
    batches = [events[i : i + 50] for i in range(0, len(events), 50)]  # 4 batches a second, 200 events a second
    clock: dict[str, float] = {}
    applied_while_down: list[int] = []

    def break_the_broker() -> None:
        time.sleep(before)
        clock["down"] = time.monotonic()
        stack.broker.stop()  # what it held is lost too: it keeps nothing on disk
        time.sleep(outage / 2)
        try:
            applied_while_down.append(wait_until_applied(label, timeout=outage / 2 - 1))
        except AssertionError:
            pass
        finally:
            connection.close()
        time.sleep(max(0.0, clock["down"] + outage - time.monotonic()))
        stack.broker.start()
        clock["up"] = time.monotonic()

    breaker = threading.Thread(target=break_the_broker, daemon=True)
    started = time.monotonic()
    breaker.start()
    try:
        sent = send_paced(stack.web.port, raw_key, batches, seconds=before + outage + after, clients=2)
    finally:
        breaker.join(timeout=before + outage + 60)
        if not stack.broker.alive:
            stack.broker.start()
    down, up = clock["down"] - started, clock["up"] - started
    during = [s for s in sent if down <= s.at and s.at + s.seconds <= up]
    print("\n" + "\n".join(latency_report(title, part) for title, part in (
        ("before the outage", [s for s in sent if s.at + s.seconds < down]), ("broker down", during),
        ("broker back", [s for s in sent if s.at > up])
    )))  # fmt: skip

    assert [(s.status, s.body) for s in sent if s.status != 202] == []
    assert all(s.body["accepted"] == len(s.events) for s in sent)
    assert len(during) >= outage * 3
    # Mid-outage, at 200 events a second, every group had caught up with what was accepted: no broker involved.
    assert len(applied_while_down) == 1, pending(label)
    wait_until_applied(label)
    assert_all_applied_once(label, events)


def test_a_stopped_pipeline_worker_gives_its_partitions_back_at_once(stack, workers, partner):
    """SIGTERM: the page at hand finishes, the leases are released (the others need not wait for them to expire)."""
    label, raw_key = partner
    worker = workers[0]  # --group crm
    worker.popen.terminate()
    assert worker.popen.wait(timeout=30) == 0, worker.output()
    assert "event=pipeline_stopped" in worker.output()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pipeline_cursor WHERE lease_owner LIKE %s", [f"worker:%:{worker.popen.pid}:%"]
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT count(*) FROM pipeline_worker WHERE worker_id LIKE %s", [f"worker:%:{worker.popen.pid}:%"]
        )
        assert cursor.fetchone()[0] == 0
    status, body = send(stack.web.port, raw_key, make_events(20, "t", players=5))
    assert (status, body["accepted"]) == (202, 20)
    wait_until_applied(label, timeout=60)  # the worker running both groups took the crm partitions over at once


def test_garbage_gets_a_clear_4xx_and_stores_nothing(stack, partner):
    _, raw_key = partner
    players_before = Player.objects.count()
    good = make_events(1, "g", players=1)[0]
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)).isoformat()
    cases = {
        "wrong types": ({"event_id": 5.5, "type": "deposit", "ext_brand_id": {}, "user_ext_id": True,
                         "occurred_at": [], "payload": "x"},
                        400, {"event_id", "ext_brand_id", "user_ext_id", "occurred_at", "payload"}),
        "amount as text": ({**good, "type": "deposit", "payload": {"deposit_amount": "100"}}, 400, {"payload.deposit_amount"}),
        "huge payload": ({**good, "type": "client_action", "payload": {"action": "a" * 40_000}}, 400, {"payload"}),
        "future timestamp": ({**good, "occurred_at": soon}, 400, {"occurred_at"}),
        "NUL in a text": ({**good, "event_id": "a\u0000b"}, 400, {"event_id"}),
        "unknown brand": ({**good, "ext_brand_id": "someone-else"}, 400, {"ext_brand_id"}),
        "amount too big": (json.dumps({**good, "payload": {"deposit_amount": 2**64}}).encode(), 400, {"payload.deposit_amount"}),
        "invalid UTF-8": (b'{"event_id": "\xc3\x28", "type": "login"}', 400, set()),
        "not JSON": (b"event_id=1&type=login", 400, set()),
        "truncated JSON": (orjson.dumps([good] * 3)[:-20], 400, set()),
        "infinite number": (b'{"event_id": "x", "payload": {"deposit_amount": 1e999}}', 400, set()),
        "nested too deep": (b"[" * 3000 + b"]" * 3000, 400, set()),
        "empty body": (b"", 400, set()),
        "10,001 events": ({"events": [good] * (10 * MAX_BATCH + 1)}, 413, set()),
    }  # fmt: skip

    answers = {name: send(stack.web.port, raw_key, body, timeout=60) for name, (body, _, _) in cases.items()}
    cases["over 16 MiB"] = (None, 413, set())
    answers["over 16 MiB"] = send_announcing(stack.web.port, raw_key, content_length=17 * 1024 * 1024)
    items = ["wrong types", "amount as text", "huge payload", "future timestamp", "NUL in a text", "unknown brand"]
    garbage_batch = send(stack.web.port, raw_key, [cases[name][0] for name in items])

    for name, (_, status, fields) in cases.items():
        got_status, body = answers[name]
        assert (name, got_status) == (name, status), body
        assert body.get("code"), (name, body)
        assert body.get("message"), (name, body)
        assert fields <= set(body.get("errors", {})), (name, body)
    assert garbage_batch[0] == 202
    assert [r["status"] for r in garbage_batch[1]["results"]] == ["invalid"] * len(items)
    assert not Event.objects.exists()
    assert Player.objects.count() == players_before
    assert "Internal Server Error" not in stack.web.output(10**9)
