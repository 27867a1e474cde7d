"""Leaderboard writes: participants entering and leaving an instance, scores per micro-batch, final places.

Every write keeps `LeaderboardBucket` (participants per score bucket, see `gamification.selectors.leaderboard`) and
the instance's `participant_count` exact, in the caller's transaction.

Bucket moves are exact under concurrency: counts and sums are added by the UPDATE itself, which returns the new
score (the old one is the new minus what was added); best values and caps lock the participants they change before
reading their scores. Participants are written in (instance, player) order and bucket rows upserted in key order, so
two batches do not deadlock; should they ever (a plan that walks the participants in another order), PostgreSQL
aborts one, and its whole transaction (the group's position included) rolls back and is retried: nothing is lost or
counted twice.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection

from backoffice.db import array_literal as _array
from gamification.selectors.leaderboard import EXCLUDED, PENDING, REGISTERED, score_bucket

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ScoreUpdate:
    instance_id: int
    player_id: int
    event_id: int
    value: Decimal  # 1 for a count
    occurred_at: dt.datetime
    # Take back an event that scored (a reversed credit): `value` is what it added (ignored for a count, 1) and
    # `occurred_at` when that event happened. See `scores_apply`.
    undo: bool = False


def _times(values) -> str:
    return "{" + ",".join(v.isoformat() for v in values) + "}"


# --- participants --------------------------------------------------------------------------------------------------


def _instance_lock(cursor, instance_id: int) -> int:
    """Lock the instance row (registrations serialize on it) and return its registered participant count."""
    cursor.execute(
        "SELECT participant_count FROM gamification_tournamentinstance WHERE id = %s FOR NO KEY UPDATE", [instance_id]
    )
    row = cursor.fetchone()
    if row is None:
        raise LookupError(f"No tournament instance {instance_id}.")
    return row[0]


def instances_lock(*, instance_ids: Sequence[int]) -> dict[int, int]:
    """Lock the instances' rows in id order and return each one's registered participant count.

    Registrations and board moves serialize on an instance's row. A caller that writes the boards of several
    instances in one transaction takes them all here first, so every transaction takes them in one order (no
    deadlock). Raises LookupError if one does not exist."""
    wanted = sorted(set(instance_ids))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, participant_count FROM gamification_tournamentinstance WHERE id = ANY(%s::bigint[])"
            " ORDER BY id FOR NO KEY UPDATE",
            [_array(wanted)],
        )
        counts = dict(cursor.fetchall())
    missing = [i for i in wanted if i not in counts]
    if missing:
        raise LookupError(f"No tournament instance {missing[0]}.")
    return counts


def _count_add(cursor, instance_id: int, delta: int) -> None:
    cursor.execute(
        "UPDATE gamification_tournamentinstance SET participant_count = participant_count + %s, updated_at = now()"
        " WHERE id = %s",
        [delta, instance_id],
    )


def _buckets_add(cursor, moves: dict[tuple[int, Decimal], int]) -> None:
    """Apply bucket count changes, in key order (no deadlocks); rows that reach zero are kept (they are reused)."""
    changes = sorted((key, delta) for key, delta in moves.items() if delta)
    if not changes:
        return
    cursor.execute(
        "INSERT INTO gamification_leaderboardbucket AS b (instance_id, bucket, count)"
        " SELECT * FROM unnest(%s::bigint[], %s::numeric[], %s::bigint[])"
        " ON CONFLICT (instance_id, bucket) DO UPDATE SET count = b.count + EXCLUDED.count",
        [_array(k[0] for k, _ in changes), _array(k[1] for k, _ in changes), _array(d for _, d in changes)],
    )


def _absent(cursor, pairs: list[tuple[int, int]], caps: dict[int, int | None]) -> list[tuple[int, int]]:
    """Of the (instance, player) pairs (sorted), those with no participant row whose instance has room (fewer
    registered participants than its cap in `caps`, if any), in the same order. A pair of an instance that does not
    exist is kept (locking it raises)."""
    cursor.execute(
        "SELECT w.instance_id, w.player_id FROM unnest(%s::bigint[], %s::bigint[], %s::int[]) WITH ORDINALITY"
        "   AS w(instance_id, player_id, cap, n)"
        " LEFT JOIN gamification_tournamentinstance t ON t.id = w.instance_id"
        " WHERE (w.cap IS NULL OR t.participant_count IS NULL OR t.participant_count < w.cap)"
        "   AND NOT EXISTS (SELECT FROM gamification_tournamentparticipant p"
        "                   WHERE p.instance_id = w.instance_id AND p.player_id = w.player_id)"
        " ORDER BY w.n",
        [_array(i for i, _ in pairs), _array(p for _, p in pairs), _caps(caps[i] for i, _ in pairs)],
    )
    return cursor.fetchall()


def _caps(values) -> str:
    return "{" + ",".join("NULL" if v is None else str(v) for v in values) + "}"


@dataclass(frozen=True, slots=True)
class Entry:
    """Players to enter in one instance (`participants_enter_many`)."""

    instance_id: int
    label_id: int
    player_ids: Sequence[int]
    max_players: int | None = None  # for registered entries: the instance's cap


def participants_enter(
    *,
    instance_id: int,
    label_id: int,
    player_ids: Sequence[int],
    status: str = REGISTERED,
    max_players: int | None = None,
    at: dt.datetime | None = None,
) -> list[int]:
    """Enter the players not yet in the instance, registered (within `max_players`) or pending approval.

    Returns the ids of the players entered now, in id order. Runs in the caller's transaction.
    """
    entry = Entry(instance_id, label_id, player_ids, max_players)
    return participants_enter_many(entries=[entry], status=status, at=at).get(instance_id, [])


def participants_enter_many(
    *, entries: Sequence[Entry], status: str = REGISTERED, at: dt.datetime | None = None
) -> dict[int, list[int]]:
    """Enter the players of each entry not yet in its instance, registered (within the entry's `max_players`) or
    pending approval, in several instances at once (a pipeline batch's automatic registrations).

    Returns instance id -> the ids of the players entered now, in id order (only instances someone entered). Runs in
    the caller's transaction. When everyone is in already, or the instances they are not in are full (most pipeline
    batches), that is one statement and no lock: locking would queue concurrent batches of the same tournaments
    behind each other until they commit. Otherwise the instances with newcomers are locked (`instances_lock`), the
    newcomers checked again under the lock, entered, counted and put in the zero bucket: five statements more,
    however many instances.
    """
    labels: dict[int, int] = {}
    caps: dict[int, int | None] = {}  # a cap applies to registered entries only
    pairs: set[tuple[int, int]] = set()
    for entry in entries:
        labels[entry.instance_id] = entry.label_id
        caps[entry.instance_id] = entry.max_players if status == REGISTERED else None
        pairs.update((entry.instance_id, player_id) for player_id in entry.player_ids)
    if not pairs:
        return {}
    at = at or dt.datetime.now(dt.UTC)
    with connection.cursor() as cursor:
        absent = _absent(cursor, sorted(pairs), caps)
        if not absent:
            return {}
        counts = instances_lock(instance_ids=[i for i, _ in absent])
        new: list[tuple[int, int]] = []
        taken: dict[int, int] = defaultdict(int)
        for instance_id, player_id in _absent(cursor, absent, caps):  # again, under the lock
            cap = caps[instance_id]
            if cap is not None and counts[instance_id] + taken[instance_id] >= cap:
                continue  # full: the lowest ids got the last places
            taken[instance_id] += 1
            new.append((instance_id, player_id))
        if not new:
            return {}
        cursor.execute(
            "INSERT INTO gamification_tournamentparticipant"
            " (instance_id, label_id, player_id, status, score, events_counted, reached_at, registered_at)"
            " SELECT u.instance_id, u.label_id, u.player_id, %s, 0, 0, %s, %s"
            " FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS u(instance_id, label_id, player_id)"
            " ORDER BY u.instance_id, u.player_id"
            " ON CONFLICT (instance_id, player_id) DO NOTHING RETURNING instance_id, player_id",
            [status, at, at, _array(i for i, _ in new), _array(labels[i] for i, _ in new), _array(p for _, p in new)],
        )
        entered: dict[int, list[int]] = defaultdict(list)
        for instance_id, player_id in sorted(cursor.fetchall()):
            entered[instance_id].append(player_id)
        if status == REGISTERED and entered:
            ids = sorted(entered)
            cursor.execute(
                "UPDATE gamification_tournamentinstance AS t"
                " SET participant_count = t.participant_count + u.n, updated_at = now()"
                " FROM unnest(%s::bigint[], %s::int[]) AS u(id, n) WHERE t.id = u.id",
                [_array(ids), _array(len(entered[i]) for i in ids)],
            )
            _buckets_add(cursor, {(i, _ZERO): len(entered[i]) for i in ids})
    return dict(entered)


def participant_admit(*, instance_id: int, player_id: int, max_players: int | None = None) -> bool:
    """Pending -> registered, within `max_players`; False when not pending or the instance is full."""
    with connection.cursor() as cursor:
        count = _instance_lock(cursor, instance_id)
        if max_players is not None and count >= max_players:
            return False
        cursor.execute(
            "UPDATE gamification_tournamentparticipant SET status = %s, reached_at = now()"
            " WHERE instance_id = %s AND player_id = %s AND status = %s RETURNING score",
            [REGISTERED, instance_id, player_id, PENDING],
        )
        row = cursor.fetchone()
        if row is None:
            return False
        _count_add(cursor, instance_id, 1)
        _buckets_add(cursor, {(instance_id, score_bucket(row[0])): 1})
    return True


def participant_leave(*, instance_id: int, player_id: int, status: str) -> bool:
    """Registered, pending or excluded -> `status` (rejected, refunded); False when the player was none of these."""
    with connection.cursor() as cursor:
        _instance_lock(cursor, instance_id)
        cursor.execute(
            "SELECT id, status, score FROM gamification_tournamentparticipant"
            " WHERE instance_id = %s AND player_id = %s FOR UPDATE",
            [instance_id, player_id],
        )
        row = cursor.fetchone()
        if row is None or row[1] not in (REGISTERED, PENDING, EXCLUDED):
            return False
        cursor.execute("UPDATE gamification_tournamentparticipant SET status = %s WHERE id = %s", [status, row[0]])
        if row[1] == REGISTERED:
            _count_add(cursor, instance_id, -1)
            _buckets_add(cursor, {(instance_id, score_bucket(row[2])): -1})
    return True


def participants_exclude(*, instance_id: int, player_ids: Sequence[int]) -> list[int]:
    """Take registered players off the board (their account is no longer ACTIVE): they keep their score, leave the
    counts and ranks, and score nothing more until `participants_restore`. Returns the ids moved, in id order."""
    return _board_move(instance_id, player_ids, REGISTERED, EXCLUDED, -1)


def participants_restore(*, instance_id: int, player_ids: Sequence[int]) -> list[int]:
    """Put excluded players back on the board with the score they had (their account is ACTIVE again); the maximum
    players does not apply, they held their place already. Returns the ids moved, in id order."""
    return _board_move(instance_id, player_ids, EXCLUDED, REGISTERED, 1)


def _board_move(instance_id: int, player_ids: Sequence[int], source: str, target: str, sign: int) -> list[int]:
    wanted = sorted(set(player_ids))
    if not wanted:
        return []
    with connection.cursor() as cursor:
        _instance_lock(cursor, instance_id)
        cursor.execute(
            "UPDATE gamification_tournamentparticipant AS p SET status = %s FROM ("
            "  SELECT id FROM gamification_tournamentparticipant"
            "  WHERE instance_id = %s AND player_id = ANY(%s::bigint[]) AND status = %s"
            "  ORDER BY player_id FOR NO KEY UPDATE) AS m"
            " WHERE p.id = m.id RETURNING p.player_id, p.score",
            [target, instance_id, _array(wanted), source],
        )
        rows = cursor.fetchall()
        if not rows:
            return []
        moves: dict[tuple[int, Decimal], int] = defaultdict(int)
        for _, score in rows:
            moves[(instance_id, score_bucket(score))] += sign
        _count_add(cursor, instance_id, sign * len(rows))
        _buckets_add(cursor, moves)
    return sorted(row[0] for row in rows)


# --- scores --------------------------------------------------------------------------------------------------------


def scores_apply(*, updates: Sequence[ScoreUpdate], rules: dict[int, tuple[str, int | None]]) -> int:
    """Apply a micro-batch of scored events to registered participants; return how many participants changed.

    `rules`: instance id -> (score method "count" | "sum" | "best", cap on counted events or None). An (instance,
    event) pair given twice in one call counts once; across calls, an event reaches this function once because the
    consumer group's position commits in the same transaction as the scores. Events count
    in the order they happened, so a cap keeps the first ones. `reached_at` moves to when the new score was reached.
    Runs in the caller's transaction.

    Counts and sums without a cap (most tournaments) add up in the database in one UPDATE ... RETURNING of the
    participants: their old score is the new one minus what was added, so no read and no separate row lock is
    needed. Best values and capped counts need the old values first: those rows are locked and read, then written.

    An `undo` update takes back what an earlier event added (a reversed credit): the participant's score drops by
    its value (1 for a count, never below zero) and it frees its place under the cap (`events_counted` one less),
    also for a participant off the board (excluded: their kept score is corrected, no bucket moves). It does
    nothing when the event it takes back happened before the participant registered (it never scored), nor in a
    `best` tournament (the best value without it is not kept anywhere: the score stays). `reached_at` is kept.
    """
    if not updates:
        return 0
    unique = {(u.instance_id, u.event_id): u for u in updates if u.instance_id in rules}  # an event counts once

    def locked(u: ScoreUpdate) -> bool:
        return u.undo or rules[u.instance_id][0] == "best" or rules[u.instance_id][1] is not None

    additive = [u for u in unique.values() if not locked(u)]
    others = [u for u in unique.values() if locked(u) and not (u.undo and rules[u.instance_id][0] == "best")]
    moves: dict[tuple[int, Decimal], int] = defaultdict(int)
    with connection.cursor() as cursor:
        changed = _scores_add(cursor, additive, rules, moves) + _scores_locked(cursor, others, rules, moves)
        _buckets_add(cursor, moves)
    return changed


# One UPDATE adds each participant's total: a nested loop over the sorted arrays and the (instance, player) index, so
# rows are changed in that order (a separate ORDER BY ... FOR UPDATE pass cost 7% more: a lock record per row).
_ADD = """
UPDATE gamification_tournamentparticipant AS p
SET score = p.score + u.added, events_counted = p.events_counted + u.events,
    reached_at = CASE WHEN u.grew IS NULL THEN p.reached_at ELSE greatest(p.reached_at, u.grew) END
FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::int[], %s::timestamptz[])
  AS u(instance_id, player_id, added, events, grew)
WHERE p.instance_id = u.instance_id AND p.player_id = u.player_id AND p.status = 'registered'
RETURNING p.instance_id, p.score, u.added
"""


def _scores_add(cursor, updates: list[ScoreUpdate], rules: dict, moves: dict) -> int:
    """Counts and sums without a cap: add each participant's fresh total in one UPDATE."""
    if not updates:
        return 0
    totals: dict[tuple[int, int], list] = {}  # (instance, player) -> [added, events, latest time it grew]
    for u in updates:
        step = Decimal(1) if rules[u.instance_id][0] == "count" else u.value
        total = totals.setdefault((u.instance_id, u.player_id), [_ZERO, 0, None])
        total[1] += 1
        if step > 0:
            total[0] += step
            total[2] = u.occurred_at if total[2] is None else max(total[2], u.occurred_at)
    keys = sorted(totals)  # one row order for every batch: no deadlocks
    cursor.execute(
        _ADD,
        [
            _array(i for i, _ in keys),
            _array(p for _, p in keys),
            _array(totals[k][0] for k in keys),
            _array(totals[k][1] for k in keys),
            "{" + ",".join("NULL" if totals[k][2] is None else totals[k][2].isoformat() for k in keys) + "}",
        ],
    )
    rows = cursor.fetchall()
    for instance_id, score, added in rows:
        old_bucket, new_bucket = score_bucket(score - added), score_bucket(score)
        if old_bucket != new_bucket:
            moves[(instance_id, old_bucket)] -= 1
            moves[(instance_id, new_bucket)] += 1
    return len(rows)


def _scores_locked(cursor, updates: list[ScoreUpdate], rules: dict, moves: dict) -> int:
    """Best values, capped counts and undos: lock and read the participants (in key order), compute, write."""
    if not updates:
        return 0
    pairs = sorted({(u.instance_id, u.player_id) for u in updates})
    statuses = [REGISTERED, EXCLUDED] if any(u.undo for u in updates) else [REGISTERED]
    cursor.execute(
        "SELECT p.id, p.instance_id, p.player_id, p.score, p.events_counted, p.reached_at, p.status, p.registered_at"
        " FROM gamification_tournamentparticipant p"
        " JOIN unnest(%s::bigint[], %s::bigint[]) AS w(instance_id, player_id)"
        "   ON p.instance_id = w.instance_id AND p.player_id = w.player_id"
        " WHERE p.status = ANY(%s) ORDER BY p.instance_id, p.player_id FOR NO KEY UPDATE OF p",
        [_array(i for i, _ in pairs), _array(p for _, p in pairs), statuses],
    )
    participants = {(row[1], row[2]): row for row in cursor.fetchall()}
    by_participant: dict[tuple[int, int], list[ScoreUpdate]] = defaultdict(list)
    for u in updates:
        row = participants.get((u.instance_id, u.player_id))
        # Off the board, only a taken-back event changes the kept score; an event from before the registration
        # never scored, so there is nothing to take back.
        if row is not None and (row[6] == REGISTERED or u.undo) and not (u.undo and u.occurred_at < row[7]):
            by_participant[(u.instance_id, u.player_id)].append(u)
    rows = []
    for key, events in by_participant.items():
        pk, instance_id, _, score, counted, reached_at, status, _ = participants[key]
        method, cap = rules[instance_id]
        new_score, new_counted, new_reached = _score(method, cap, score, counted, reached_at, events)
        if (new_score, new_counted, new_reached) == (score, counted, reached_at):
            continue
        rows.append((pk, new_score, new_counted, new_reached))
        old_bucket, new_bucket = score_bucket(score), score_bucket(new_score)
        if status == REGISTERED and old_bucket != new_bucket:  # excluded participants are in no bucket
            moves[(instance_id, old_bucket)] -= 1
            moves[(instance_id, new_bucket)] += 1
    if rows:
        rows.sort()
        ids, scores, counted, reached = zip(*rows, strict=True)
        cursor.execute(
            "UPDATE gamification_tournamentparticipant AS p SET score = u.score, events_counted = u.counted,"
            " reached_at = u.reached_at"
            " FROM unnest(%s::bigint[], %s::numeric[], %s::int[], %s::timestamptz[]) AS u(id, score, counted,"
            " reached_at) WHERE p.id = u.id",
            [_array(ids), _array(scores), _array(counted), _times(reached)],
        )
    return len(rows)


def _score(method: str, cap: int | None, score: Decimal, counted: int, reached_at: dt.datetime, events: list):
    events.sort(key=lambda u: (u.occurred_at, u.event_id))
    for u in events:
        if u.undo:
            if method != "best":
                score = max(score - (Decimal(1) if method == "count" else u.value), _ZERO)
                counted = max(counted - 1, 0)
            continue
        if cap is not None and counted >= cap:
            continue  # the cap keeps the first events
        counted += 1
        if method == "best":
            if u.value > score:
                score, reached_at = u.value, u.occurred_at
        else:
            step = Decimal(1) if method == "count" else u.value
            if step > 0:
                score += step
                reached_at = max(reached_at, u.occurred_at)
    return score, counted, reached_at


def places_assign(*, instance_id: int) -> int:
    """Set the final `place` of every registered participant (1..n in leaderboard order); return n."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE gamification_tournamentparticipant AS p SET place = r.place"
            " FROM (SELECT id, row_number() OVER (ORDER BY score DESC, reached_at, id) AS place"
            "       FROM gamification_tournamentparticipant WHERE instance_id = %s AND status = %s) AS r"
            " WHERE p.id = r.id AND p.place IS DISTINCT FROM r.place",
            [instance_id, REGISTERED],
        )
        cursor.execute(
            "SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %s AND status = %s",
            [instance_id, REGISTERED],
        )
        return cursor.fetchone()[0]
