"""Leaderboard reads: top N, a player's rank and their neighbours, over the registered participants of an instance.

Order: score descending, then who reached that score first (`reached_at`), then who registered first (`id`).

Top N walks the partial index (instance, score desc, reached_at, id) and stops after N rows. A rank cannot count
everyone ahead at a million participants, so `LeaderboardBucket` keeps how many registered participants have a
score in each bucket: below 1,000 a bucket is one whole number, above it the score truncated to three significant
digits (about 900 buckets per power of ten). A rank is then the sum of the counts of the buckets above the
player's (a few thousand rows at most) plus an index range count inside their own bucket, from the nearer of
its two edges. The writes that keep the buckets exact are in `gamification.services.leaderboard`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from django.db import connection

REGISTERED, PENDING, EXCLUDED = "registered", "pending", "excluded"
_ONE_THOUSAND = Decimal(1000)


@dataclass(frozen=True, slots=True)
class Standing:
    place: int
    player_id: int
    score: Decimal
    reached_at: dt.datetime
    events_counted: int


def score_bucket(score: Decimal) -> Decimal:
    """The bucket a score counts in: whole numbers below 1,000, three significant digits (truncated) above."""
    if score < _ONE_THOUSAND:
        return Decimal(math.floor(score))  # int first: about five times cheaper than to_integral_value
    step = Decimal(1).scaleb(score.adjusted() - 2)
    return ((score / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(Decimal(1))


def score_bucket_end(score: Decimal) -> Decimal:
    """The first score of the next bucket."""
    if score < _ONE_THOUSAND:
        return score.to_integral_value(rounding=ROUND_FLOOR) + 1
    return score_bucket(score) + Decimal(1).scaleb(score.adjusted() - 2)


_COLUMNS = "player_id, score, reached_at, events_counted"
_ORDER = "ORDER BY score DESC, reached_at, id"


def leaderboard_top(*, instance_id: int, limit: int = 100, offset: int = 0) -> list[Standing]:
    """The first `limit` places (after `offset`), through the leaderboard index."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM gamification_tournamentparticipant"  # noqa: S608 - constant fragments
            f" WHERE instance_id = %s AND status = %s {_ORDER} LIMIT %s OFFSET %s",
            [instance_id, REGISTERED, limit, offset],
        )
        return [Standing(offset + n, *row) for n, row in enumerate(cursor.fetchall(), start=1)]


def _me(cursor, instance_id: int, player_id: int):
    cursor.execute(
        "SELECT id, player_id, score, reached_at, events_counted FROM gamification_tournamentparticipant"
        " WHERE instance_id = %s AND player_id = %s AND status = %s",
        [instance_id, player_id, REGISTERED],
    )
    return cursor.fetchone()


_AHEAD_ABOVE = """
SELECT (SELECT coalesce(sum(count), 0) FROM gamification_leaderboardbucket
         WHERE instance_id = %(i)s AND bucket > %(b)s)
 + (SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %(i)s AND status = %(st)s
    AND score > %(s)s AND score < %(end)s)
 + (SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %(i)s AND status = %(st)s
    AND score = %(s)s AND (reached_at, id) < (%(r)s, %(pk)s))
"""
_AHEAD_BELOW = """
SELECT (SELECT coalesce(sum(count), 0) FROM gamification_leaderboardbucket
         WHERE instance_id = %(i)s AND bucket >= %(b)s)
 - 1
 - (SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %(i)s AND status = %(st)s
    AND score >= %(b)s AND score < %(s)s)
 - (SELECT count(*) FROM gamification_tournamentparticipant WHERE instance_id = %(i)s AND status = %(st)s
    AND score = %(s)s AND (reached_at, id) > (%(r)s, %(pk)s))
"""


def _ahead(cursor, instance_id: int, pk: int, score: Decimal, reached_at: dt.datetime) -> int:
    """How many registered participants rank before (score, reached_at, pk).

    The buckets above are summed; inside the player's own bucket the index range between the player and the nearer
    edge of the bucket is counted: the part above them, or, when their score lies in the lower half of the bucket
    (a whole score of a count is the bottom of its bucket), the part below them taken from the bucket's count. Both
    are exact (one statement, one snapshot: the counts move with the scores); the nearer edge halves the range that
    the largest buckets, the low scores where most players are, make the index count.
    """
    bucket, end = score_bucket(score), score_bucket_end(score)
    upper_half = (score - bucket) * 2 >= end - bucket
    params = {"i": instance_id, "b": bucket, "s": score, "end": end, "r": reached_at, "pk": pk, "st": REGISTERED}
    cursor.execute(_AHEAD_ABOVE if upper_half else _AHEAD_BELOW, params)
    return int(cursor.fetchone()[0])


def leaderboard_rank(*, instance_id: int, player_id: int) -> Standing | None:
    """The player's place and score; None when they are not a registered participant."""
    with connection.cursor() as cursor:
        me = _me(cursor, instance_id, player_id)
        if me is None:
            return None
        pk, player_id, score, reached_at, counted = me
        return Standing(_ahead(cursor, instance_id, pk, score, reached_at) + 1, player_id, score, reached_at, counted)


def leaderboard_around(*, instance_id: int, player_id: int, k: int = 2) -> list[Standing]:
    """Up to `k` places above the player, the player, and up to `k` below; empty when not a participant."""
    with connection.cursor() as cursor:
        me = _me(cursor, instance_id, player_id)
        if me is None:
            return []
        pk, _, score, reached_at, _ = me
        place = _ahead(cursor, instance_id, pk, score, reached_at) + 1
        base = f"SELECT {_COLUMNS} FROM gamification_tournamentparticipant WHERE instance_id = %s AND status = %s"  # noqa: S608
        args = [instance_id, REGISTERED]
        above = _union_fetch(
            cursor,
            f"{base} AND score = %s AND (reached_at, id) < (%s, %s) ORDER BY reached_at DESC, id DESC LIMIT %s",
            [*args, score, reached_at, pk, k],
            f"{base} AND score > %s ORDER BY score, reached_at DESC, id DESC LIMIT %s",
            [*args, score, k],
            k,
        )
        below = _union_fetch(
            cursor,
            f"{base} AND score = %s AND (reached_at, id) > (%s, %s) ORDER BY reached_at, id LIMIT %s",
            [*args, score, reached_at, pk, k],
            f"{base} AND score < %s {_ORDER} LIMIT %s",
            [*args, score, k],
            k,
        )
    standings = [Standing(place - n, *row) for n, row in enumerate(above, start=1)][::-1]
    standings.append(Standing(place, me[1], score, reached_at, me[4]))
    standings += [Standing(place + n, *row) for n, row in enumerate(below, start=1)]
    return standings


def _union_fetch(cursor, near_sql: str, near_args: list, far_sql: str, far_args: list, k: int) -> list[tuple]:
    """The `k` nearest rows: first the ties on the same score, then the next scores (two index scans)."""
    cursor.execute(near_sql, near_args)
    rows = cursor.fetchall()
    if len(rows) < k:
        cursor.execute(far_sql, [*far_args[:-1], k - len(rows)])
        rows += cursor.fetchall()
    return rows
