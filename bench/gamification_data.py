"""The data of bench/gamification.py: a million players and participants written by set-based SQL, the bucket rule
in SQL, 50 active missions and 5 started tournaments made with the ORM, and a realistic backlog of events.

Every row is valid for the models: players get every NOT NULL column (the model's defaults, read from its fields, so
a column added later is filled too), participants and buckets are exactly what the leaderboard module would write.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from decimal import Decimal

import psycopg
from django.db import connection

# selectors.leaderboard.score_bucket in SQL: whole numbers below 1,000, three significant digits (truncated) above.
BUCKET_SQL = "CASE WHEN {s} < 1000 THEN floor({s}) ELSE trunc({s}, 3 - length(trunc({s})::text)) END"
EDGE_SCORES = ["0", "0.5", "1", "999.9999", "1000", "1009.9999", "1010", "9999.9999", "10000", "10050", "99999",
               "100000", "123456.78", "999999.9999", "1000000", "12345678.9"]  # fmt: skip


def players_insert(label_id: int, brand_id: int, count: int, prefix: str) -> None:
    """`count` players `<prefix><n>` with every column the model requires set to its default, in one statement."""
    from crm.models import Player

    columns, values, params = [], [], []
    for field in Player._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.column in ("label_id", "brand_id"):
            value, param = "%s", label_id if field.column == "label_id" else brand_id
        elif field.column == "user_ext_id":
            value, param = "%s || g::text", prefix
        elif field.column == "core_wallet_currency":
            # The label's base currency: money counts as is (a blank currency has no rate and would count nothing).
            value, param = "%s", "EUR"
        elif field.column in ("created_at", "updated_at"):
            value, param = "now()", None
        elif field.null:
            continue
        else:
            value = f"%s::{field.db_type(connection)}"
            param = field.get_db_prep_save(field.get_default(), connection)
        columns.append(field.column)
        values.append(value)
        if param is not None:
            params.append(param)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO crm_player ({', '.join(columns)}) SELECT {', '.join(values)}"
            " FROM generate_series(1, %s) AS g",
            [*params, count],
        )


def participants_insert(instance_id: int, label_id: int, since: dt.datetime, zero_share: float) -> int:
    """Every player of the label registered in the instance with a skewed score: a share at zero (registered, no bet
    yet), the others log-normal sums of bets (median about 12, a long tail into the hundreds of thousands); every
    `reached_at` distinct (row n reached its score (n * 7919 mod 1,000,003) ms after `since`)."""
    from gamification.models import TournamentParticipant

    # Registered long ago: their registration was announced (when the model tracks that).
    fields = {f.name for f in TournamentParticipant._meta.concrete_fields}
    announced = (", announced", ", true") if "announced" in fields else ("", "")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            f"""
            INSERT INTO gamification_tournamentparticipant
                (instance_id, label_id, player_id, status, score, events_counted, reached_at, registered_at
                 {announced[0]})
            SELECT %(i)s, %(l)s, id, 'registered', score, ceil(score / 2.5)::int,
                   %(t)s + ((n * 7919) %% 1000003) * interval '1 millisecond', %(t)s {announced[1]}
            FROM (SELECT id, n, CASE WHEN random() < %(z)s THEN 0
                                     ELSE round(exp(2.5 + 1.8 * sqrt(-2 * ln(1 - random()))
                                                    * cos(2 * pi() * random()))::numeric, 2) END AS score
                  FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM crm_player WHERE label_id = %(l)s) p) s
            """,
            {"i": instance_id, "l": label_id, "t": since, "z": zero_share},
        )
        entered = cursor.rowcount
        cursor.execute(
            "UPDATE gamification_tournamentinstance SET participant_count = %s WHERE id = %s", [entered, instance_id]
        )
    return entered


def buckets_build(instance_id: int) -> int:
    """The bucket counts of the instance from its registered participants, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gamification_leaderboardbucket (instance_id, bucket, count)"
            f" SELECT instance_id, {BUCKET_SQL.format(s='score')} AS b, count(*)"
            " FROM gamification_tournamentparticipant WHERE instance_id = %s AND status = 'registered'"
            " GROUP BY instance_id, b",
            [instance_id],
        )
        return cursor.rowcount


def bucket_rule_check(instance_id: int, sample: int = 5000) -> int:
    """Assert the SQL bucket rule equals `score_bucket` on edge scores and a sample of stored scores."""
    from gamification.selectors.leaderboard import score_bucket

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s, {BUCKET_SQL.format(s='s')} FROM unnest(%s::numeric[]) AS s",
            [[Decimal(v) for v in EDGE_SCORES]],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"SELECT score, {BUCKET_SQL.format(s='score')} FROM gamification_tournamentparticipant"
            " WHERE instance_id = %s ORDER BY random() LIMIT %s",
            [instance_id, sample],
        )
        rows += cursor.fetchall()
    wrong = [(score, bucket, score_bucket(score)) for score, bucket in rows if bucket != score_bucket(score)]
    assert not wrong, f"the SQL bucket rule differs from score_bucket: {wrong[:5]}"
    return len(rows)


def buckets_match(instance_id: int) -> bool:
    """The stored bucket counts equal a recount of the registered participants' scores."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT count(*) FROM (
                  SELECT {BUCKET_SQL.format(s="score")} AS bucket, count(*) AS count
                  FROM gamification_tournamentparticipant WHERE instance_id = %(i)s AND status = 'registered'
                  GROUP BY 1) AS real
                FULL JOIN (SELECT bucket, count FROM gamification_leaderboardbucket
                           WHERE instance_id = %(i)s AND count <> 0) AS kept USING (bucket)
                WHERE real.count IS DISTINCT FROM kept.count""",
            {"i": instance_id},
        )
        return cursor.fetchone()[0] == 0


# --- score updates ------------------------------------------------------------------------------------------------

_UPDATE_FLOOR = """UPDATE gamification_tournamentparticipant AS p SET score = p.score + u.v,
    events_counted = p.events_counted + 1, reached_at = greatest(p.reached_at, u.t)
FROM unnest(%s::bigint[], %s::numeric[], %s::timestamptz[]) AS u(player_id, v, t)
WHERE p.instance_id = %s AND p.player_id = u.player_id AND p.status = 'registered'"""


def score_batches(instance_id: int, players: tuple[list[int], list[int]], args, rng: random.Random) -> list[list]:
    """Batches of updates: a third to participants still at zero, the rest to players with a score. (An event
    reaches `scores_apply` once: the pipeline's claim commits with the scores, so the bench sends no replays.)"""
    from gamification.services.leaderboard import ScoreUpdate

    zero, scored = players
    now = dt.datetime.now(dt.UTC)
    event_id = 10**12
    batches = []
    for _ in range(args.score_batches):
        batch = []
        for _ in range(args.score_batch):
            event_id += 1
            pid = rng.choice(zero) if rng.random() < 1 / 3 else rng.choice(scored)
            value = Decimal(str(round(rng.lognormvariate(0, 1.2) + 0.1, 2)))
            batch.append(ScoreUpdate(instance_id, pid, event_id, value, now - dt.timedelta(seconds=rng.random() * 600)))
        batches.append(batch)
    return batches


def update_floor(info: str, instance_id: int, batches: list[list]) -> float:
    """The same rows changed by one bare UPDATE per batch (rolled back: the scores and buckets stay as they were)."""
    with psycopg.connect(info) as conn:
        started = time.perf_counter()
        for batch in batches:
            with conn.cursor() as cur:
                cur.execute(_UPDATE_FLOOR, [[u.player_id for u in batch], [u.value for u in batch],
                                            [u.occurred_at for u in batch], instance_id])  # fmt: skip
            conn.rollback()
        return sum(map(len, batches)) / (time.perf_counter() - started)


# --- missions and tournaments ---------------------------------------------------------------------------------------

SLOTS = [{"field": "game_category", "op": "eq", "value": "slots"}]
MIN_BET = [{"field": "bet_amount", "op": "gte", "value": 1.0}]


def missions_create(label, since: dt.datetime, opted_in: list[int]) -> dict[str, int]:
    """50 active missions of every kind; the opt-in ones have `opted_in` players opted in. Returns counts by type."""
    from gamification.models import Level, Mission, MissionTask

    level = Level.objects.create(label=label, name="Silver", required_points=1000)
    minutes = dt.timedelta(minutes=1)
    kinds = [  # (mission fields, [(event type, conditions, aggregation, sum field, target, window)])
        ({}, [("casino_bet", SLOTS + MIN_BET, "count", "", 50, None)]),
        ({"reward_points": 50}, [("casino_bet", [], "sum", "bet_amount", 300, None)]),
        ({"reward_points": 10}, [("login", [], "count", "", 5, None)]),
        ({}, [("casino_bet", MIN_BET, "count", "", 15, 30 * minutes)]),
        # opted in at `since` (a day before the run starts): a limit of three days keeps every backlog's events
        # within it, so what the run counts does not depend on how long the run took to reach them
        ({"requires_opt_in": True, "time_limit": dt.timedelta(days=3), "reward_gems": 5},
         [("casino_bet", [{"field": "game_category", "op": "in", "value": ["live", "table"]}], "sum", "bet_amount",
           200, None)]),
        ({"type": "locked", "unlock_event_type": "deposit",
          "unlock_event_conditions": [{"field": "deposit_amount", "op": "gte", "value": 100}]},
         [("deposit", [], "sum", "deposit_amount", 1000, None)]),
        ({"type": "recurring", "recurrence": "daily", "reward_points": 20},
         [("casino_bet", SLOTS, "count", "", 40, None)]),
        ({"type": "recurring_on_completion", "max_completions": 5, "reward_points": 5},
         [("casino_win", [], "count", "", 20, None)]),
        ({"is_featured": True, "claim_required": True, "reward_diamonds": 1},
         [("deposit", [], "count", "", 3, None), ("casino_bet", [], "sum", "bet_amount", 200, 60 * minutes)]),
        ({"type": "locked", "unlock_level": level}, [("casino_bet", [], "count", "", 30, None)]),
    ]  # fmt: skip
    counts: dict[str, int] = {}
    for n in range(50):
        fields, tasks = kinds[n % len(kinds)]
        mission = Mission.objects.create(
            label=label, name=f"Mission {n}", status="active", activated_at=since, position=n, **fields
        )
        counts[mission.type] = counts.get(mission.type, 0) + 1
        for position, (event_type, conditions, aggregation, sum_field, target, window) in enumerate(tasks):
            MissionTask.objects.create(
                mission=mission, position=position, name=f"Task {position}", event_type=event_type,
                conditions=conditions, aggregation=aggregation, sum_field=sum_field, target=Decimal(target),
                window=window,
            )  # fmt: skip
        if mission.requires_opt_in and opted_in:
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO gamification_playermission (label_id, player_id, mission_id, cycle, run, state,"
                    " progress, opted_in_at, expires_at, created_at, updated_at)"
                    " SELECT %s, p, %s, '', 1, 'available', '{}', %s, %s, now(), now() FROM unnest(%s::bigint[]) p",
                    [label.pk, mission.pk, since, since + mission.time_limit, opted_in],
                )
    return counts


def tournament_create(label, name: str, since: dt.datetime, until: dt.datetime, **fields):
    """An active automatic-registration tournament and its started instance (since <= now < until)."""
    from gamification.models import Tournament, TournamentInstance

    tournament = Tournament.objects.create(
        label=label, name=name, status="active", starts_at=since, duration=until - since, registration_type="auto",
        **fields,
    )  # fmt: skip
    return TournamentInstance.objects.create(
        label=label, tournament=tournament, status="started", registration_opens_at=since, starts_at=since,
        ends_at=until,
    )  # fmt: skip


def tournaments_more(label, since: dt.datetime, until: dt.datetime) -> list:
    """Four more started tournaments: count with filters, best single win, capped sums and counts."""
    return [
        tournament_create(label, "Slots sprint", since, until, event_type="casino_bet", score_method="count",
                          conditions=[*SLOTS, {"field": "bet_amount", "op": "gte", "value": 0.5}]),
        tournament_create(label, "Biggest win", since, until, event_type="casino_win", score_method="best",
                          score_field="win_amount"),
        tournament_create(label, "Deposit race", since, until, event_type="deposit", score_method="sum",
                          score_field="deposit_amount", max_counted_events=10),
        tournament_create(label, "Provider week", since, until, event_type="casino_bet", score_method="count",
                          max_counted_events=200,
                          conditions=[{"field": "game_provider", "op": "in", "value": ["Play'n GO", "NetEnt"]},
                                      {"field": "bet_amount", "op": "gte", "value": 2}]),
    ]  # fmt: skip


# --- events ---------------------------------------------------------------------------------------------------------

GAMES = [("g-1", "Book of Dead", "slots", "Play'n GO"), ("g-2", "Starburst", "slots", "NetEnt"),
         ("g-3", "Lightning Roulette", "live", "Evolution"), ("g-4", "Blackjack Classic", "table", "NetEnt"),
         ("g-5", "Sweet Bonanza", "slots", "Pragmatic Play"), ("g-6", "Crazy Time", "live", "Evolution")]  # fmt: skip
KINDS = ["casino_bet"] * 13 + ["casino_win"] * 4 + ["login"] * 3 + ["deposit"] * 2 + ["withdrawal", "client_action"]


def _payload(kind: str, rng: random.Random) -> dict:
    game_id, game_name, category, provider = rng.choice(GAMES)
    game = {"game_id": game_id, "game_name": game_name, "game_category": category, "game_provider": provider}
    bet = round(min(rng.lognormvariate(0, 1.2), 500) + 0.1, 2)  # mostly small, a few big
    if kind == "casino_bet":
        return {"bet_amount": bet, **game}
    if kind == "casino_win":
        return {"win_amount": round(bet * rng.choice([0.5, 1, 2, 5, 20]), 2), **game}
    if kind == "login":
        return {"entry_point": rng.choice(["lobby", "mobile", "app"])}
    if kind == "deposit":
        return {"deposit_amount": float(rng.choice([10, 20, 50, 100, 250]))}
    if kind == "withdrawal":
        return {"withdrawal_amount": round(bet * 20, 2)}
    return {"action": "opened_cashier"}


def make_events(count: int, prefix: str, users: list[str], start: dt.datetime, seed: int) -> list[dict]:
    """Bets most, then wins, logins, deposits; many players, a few of them much busier."""
    rng = random.Random(seed)
    events = []
    for i in range(count):
        kind = rng.choice(KINDS)
        payload = _payload(kind, rng)
        # Skewed activity: a tenth of the players send about half of the events.
        user = users[rng.randrange(len(users) // 10)] if rng.random() < 0.5 else rng.choice(users)
        occurred = (start + dt.timedelta(milliseconds=40 * i)).isoformat(timespec="milliseconds")
        events.append({"event_id": f"{prefix}-{i}", "type": kind, "ext_brand_id": "bench-casino", "user_ext_id": user,
                       "occurred_at": occurred, "payload": payload})  # fmt: skip
    return events
