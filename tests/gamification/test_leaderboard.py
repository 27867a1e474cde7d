"""The leaderboard module: scores per micro-batch, and ranks from bucket counts equal a full sort."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gamification.models import LeaderboardBucket, Tournament, TournamentInstance, TournamentParticipant
from gamification.selectors.leaderboard import (
    leaderboard_around,
    leaderboard_rank,
    leaderboard_top,
    score_bucket,
    score_bucket_end,
)
from gamification.services.leaderboard import (
    Entry,
    ScoreUpdate,
    participant_admit,
    participant_leave,
    participants_enter,
    participants_enter_many,
    participants_exclude,
    participants_restore,
    places_assign,
    scores_apply,
)
from tests.factories import PlayerFactory

T0 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def instance(tenant_a):
    tournament = Tournament.objects.create(
        label=tenant_a.label, name="Slots race", starts_at=T0, duration=dt.timedelta(days=1), event_type="casino_bet"
    )
    return TournamentInstance.objects.create(
        label=tenant_a.label,
        tournament=tournament,
        status="started",
        registration_opens_at=T0,
        starts_at=T0,
        ends_at=T0 + dt.timedelta(days=1),
    )


def _players(tenant, n):
    return [PlayerFactory(label=tenant.label, brand=tenant.brand).pk for _ in range(n)]


def _expected(instance):
    rows = TournamentParticipant.objects.filter(instance=instance, status="registered").order_by(
        "-score", "reached_at", "id"
    )
    return [(place, p.player_id, p.score) for place, p in enumerate(rows, start=1)]


def _bucket_counts_match(instance):
    counts = {}
    for p in TournamentParticipant.objects.filter(instance=instance, status="registered"):
        counts[score_bucket(p.score)] = counts.get(score_bucket(p.score), 0) + 1
    stored = {b.bucket: b.count for b in LeaderboardBucket.objects.filter(instance=instance) if b.count}
    assert stored == counts


@pytest.mark.parametrize(
    ("score", "bucket", "end"),
    [
        (Decimal("0"), 0, 1),
        (Decimal("999.99"), 999, 1000),
        (Decimal("1000"), 1000, 1010),
        (Decimal("123456.78"), 123000, 124000),
        (Decimal("99999"), 99900, 100000),
    ],
)
def test_buckets(score, bucket, end):
    assert (score_bucket(score), score_bucket_end(score)) == (bucket, end)
    assert score_bucket(score) <= score < score_bucket_end(score)


def test_scores_add_up_and_ties_go_to_who_reached_first(tenant_a, instance):
    a, b, c = _players(tenant_a, 3)
    assert participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=[a, b, c]) == [a, b, c]
    rules = {instance.pk: ("sum", None)}
    batch = [
        ScoreUpdate(instance.pk, b, 1, Decimal(5), T0 + dt.timedelta(minutes=2)),
        ScoreUpdate(instance.pk, a, 2, Decimal(5), T0 + dt.timedelta(minutes=1)),
        ScoreUpdate(instance.pk, c, 3, Decimal(2), T0 + dt.timedelta(minutes=1)),
    ]
    assert scores_apply(updates=batch + batch[:1], rules=rules) == 3  # an event given twice in one batch counts once
    top = leaderboard_top(instance_id=instance.pk)
    assert [(s.place, s.player_id, s.score) for s in top] == [(1, a, 5), (2, b, 5), (3, c, 2)]
    assert leaderboard_rank(instance_id=instance.pk, player_id=b).place == 2
    assert [s.player_id for s in leaderboard_around(instance_id=instance.pk, player_id=b, k=1)] == [a, b, c]
    assert places_assign(instance_id=instance.pk) == 3
    instance.refresh_from_db()
    assert instance.participant_count == 3
    _bucket_counts_match(instance)


def test_count_best_and_cap(tenant_a, instance):
    a, b = _players(tenant_a, 2)
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=[a, b])
    events = [ScoreUpdate(instance.pk, a, n, Decimal(n), T0 + dt.timedelta(seconds=n)) for n in range(1, 6)]
    scores_apply(updates=events, rules={instance.pk: ("count", 3)})
    assert leaderboard_rank(instance_id=instance.pk, player_id=a).score == 3  # capped at three counted events
    scores_apply(updates=[ScoreUpdate(instance.pk, a, 9, Decimal(1), T0)], rules={instance.pk: ("count", 3)})
    assert leaderboard_rank(instance_id=instance.pk, player_id=a).events_counted == 3
    best = [
        ScoreUpdate(instance.pk, b, 10 + n, Decimal(v), T0 + dt.timedelta(seconds=n)) for n, v in enumerate([4, 9, 2])
    ]
    scores_apply(updates=best, rules={instance.pk: ("best", None)})
    standing = leaderboard_rank(instance_id=instance.pk, player_id=b)
    assert (standing.score, standing.reached_at) == (9, T0 + dt.timedelta(seconds=1))


def test_unregistered_players_do_not_score_and_leaving_or_admitting_moves_counts(tenant_a, instance):
    a, b, c = _players(tenant_a, 3)
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=[a])
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=[b], status="pending")
    scores_apply(
        updates=[ScoreUpdate(instance.pk, p, p, Decimal(3), T0) for p in (a, b, c)], rules={instance.pk: ("sum", None)}
    )
    assert [s.player_id for s in leaderboard_top(instance_id=instance.pk)] == [a]
    assert participant_admit(instance_id=instance.pk, player_id=b, max_players=1) is False  # full
    assert participant_admit(instance_id=instance.pk, player_id=b) is True
    assert participant_leave(instance_id=instance.pk, player_id=a, status="refunded") is True
    assert participant_leave(instance_id=instance.pk, player_id=a, status="refunded") is False
    assert [s.player_id for s in leaderboard_top(instance_id=instance.pk)] == [b]
    instance.refresh_from_db()
    assert instance.participant_count == 1
    _bucket_counts_match(instance)


def test_excluded_players_leave_and_rejoin_the_board_with_their_score_and_counts_follow(tenant_a, instance):
    a, b, c = _players(tenant_a, 3)
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=[a, b, c])
    scores = {a: Decimal(1500), b: Decimal(40), c: Decimal(7)}
    scores_apply(
        updates=[ScoreUpdate(instance.pk, p, p, scores[p], T0) for p in (a, b, c)], rules={instance.pk: ("sum", None)}
    )
    assert participants_exclude(instance_id=instance.pk, player_ids=[a, c, a]) == sorted([a, c])
    assert participants_exclude(instance_id=instance.pk, player_ids=[a]) == []  # already off: nothing moves
    assert [(s.place, s.player_id) for s in leaderboard_top(instance_id=instance.pk)] == [(1, b)]
    assert leaderboard_rank(instance_id=instance.pk, player_id=a) is None
    assert (
        scores_apply(updates=[ScoreUpdate(instance.pk, c, 99, Decimal(5), T0)], rules={instance.pk: ("sum", None)}) == 0
    )
    instance.refresh_from_db()
    assert instance.participant_count == 1
    _bucket_counts_match(instance)
    assert participants_restore(instance_id=instance.pk, player_ids=[a, b]) == [a]  # b was never off
    assert [(s.player_id, s.score) for s in leaderboard_top(instance_id=instance.pk)] == [(a, 1500), (b, 40)]
    assert (
        participant_leave(instance_id=instance.pk, player_id=c, status="refunded") is True
    )  # off the board: refundable
    instance.refresh_from_db()
    assert instance.participant_count == 2
    _bucket_counts_match(instance)
    assert places_assign(instance_id=instance.pk) == 2


def test_max_players_is_kept(tenant_a, instance):
    players = _players(tenant_a, 5)
    entered = participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=players, max_players=3)
    assert entered == sorted(players)[:3]
    assert (
        participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=players, max_players=3) == []
    )


def _instances(tenant, n):
    """`n` more started instances of the fixture's kind."""
    tournament = Tournament.objects.create(
        label=tenant.label, name="Bet race", starts_at=T0, duration=dt.timedelta(days=1), event_type="casino_bet"
    )
    ends = T0 + dt.timedelta(days=1)
    return [
        TournamentInstance.objects.create(
            label=tenant.label,
            tournament=tournament,
            status="started",
            registration_opens_at=T0,
            starts_at=T0 + dt.timedelta(minutes=k),
            ends_at=ends,
        )
        for k in range(n)
    ]


def test_entering_several_instances_at_once_keeps_each_cap_and_count_and_locks_only_when_someone_is_new(
    tenant_a, instance
):
    full, capped, open_ = instance, *_instances(tenant_a, 2)
    a, b, c, d = sorted(_players(tenant_a, 4))
    participants_enter(instance_id=full.pk, label_id=tenant_a.label.pk, player_ids=[a, b])
    participants_enter(instance_id=capped.pk, label_id=tenant_a.label.pk, player_ids=[a], max_players=3)
    entries = [
        Entry(open_.pk, tenant_a.label.pk, [d, c, a, c]),
        Entry(full.pk, tenant_a.label.pk, [a, b]),
        Entry(capped.pk, tenant_a.label.pk, [d, c, b, a], max_players=3),
    ]
    with CaptureQueriesContext(connection) as queries:
        entered = participants_enter_many(entries=entries, at=T0)
    # Everyone in `full` was in: nothing for it. The cap of 3 leaves `capped` two places, for the lowest ids.
    assert entered == {capped.pk: [b, c], open_.pk: [a, c, d]}
    # The check, the lock, the check again under it, the insert, the counts and the buckets, for all three together.
    assert len(queries) == 6
    assert "FOR NO KEY UPDATE" in queries[1]["sql"]
    for each, registered in ((full, [a, b]), (capped, [a, b, c]), (open_, [a, c, d])):
        each.refresh_from_db()
        assert each.participant_count == len(registered)
        assert sorted(TournamentParticipant.objects.filter(instance=each).values_list("player_id", flat=True)) == (
            registered
        )
        _bucket_counts_match(each)
    new = TournamentParticipant.objects.filter(instance__in=[capped, open_]).exclude(instance=capped, player_id=a)
    assert set(new.values_list("registered_at", "reached_at")) == {(T0, T0)}
    with CaptureQueriesContext(connection) as queries:
        assert participants_enter_many(entries=entries, at=T0) == {}
    assert len(queries) == 1  # everyone is in (or the instance is full): answered without a lock
    assert "FOR" not in queries[0]["sql"]


def test_entering_an_instance_that_does_not_exist_changes_nothing(tenant_a, instance):
    (a,) = _players(tenant_a, 1)
    missing = TournamentInstance.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    entries = [Entry(instance.pk, tenant_a.label.pk, [a]), Entry(missing, tenant_a.label.pk, [a])]
    with pytest.raises(LookupError, match=f"No tournament instance {missing}"), transaction.atomic():
        participants_enter_many(entries=entries)
    assert not TournamentParticipant.objects.filter(instance=instance).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_entries_in_several_instances_neither_deadlock_nor_pass_a_cap(tenant_a, instance):
    instances = [instance, *_instances(tenant_a, 3)]
    players = _players(tenant_a, 40)
    barrier, errors = threading.Barrier(4), []

    def enterer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait(timeout=30)
            for _ in range(6):
                chosen = rng.sample(instances, 3)  # each batch names its instances in its own order
                entries = [Entry(i.pk, tenant_a.label.pk, rng.sample(players, 8), max_players=25) for i in chosen]
                with transaction.atomic():  # no retry: a deadlock fails the test
                    participants_enter_many(entries=entries, at=T0)
        except Exception as exc:
            errors.append((seed, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=enterer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    for each in instances:
        each.refresh_from_db()
        registered = TournamentParticipant.objects.filter(instance=each, status="registered").count()
        assert each.participant_count == registered
        assert 0 < registered <= 25
        _bucket_counts_match(each)


# Each example starts from an empty leaderboard, so the function-scoped fixtures can be shared.
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    scores=st.lists(st.sampled_from([0, 1, 5, 999, 1000, 1004, 1010, 5555, 123456, 123999]), min_size=2, max_size=25)
)
def test_ranks_from_buckets_equal_a_full_sort(tenant_a, instance, scores):
    TournamentParticipant.objects.filter(instance=instance).delete()
    LeaderboardBucket.objects.filter(instance=instance).delete()
    TournamentInstance.objects.filter(pk=instance.pk).update(participant_count=0)
    players = _players(tenant_a, len(scores))
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=players)
    rng = random.Random(len(scores))
    updates = [
        ScoreUpdate(instance.pk, p, 10_000 + n, Decimal(s) + Decimal("0.5") * rng.randint(0, 1), T0 + dt.timedelta(s))
        for n, (p, s) in enumerate(zip(players, scores, strict=True))
        if s
    ]
    scores_apply(updates=updates, rules={instance.pk: ("sum", None)})
    expected = _expected(instance)
    assert [(s.place, s.player_id, s.score) for s in leaderboard_top(instance_id=instance.pk, limit=100)] == expected
    for place, player_id, _ in expected:
        assert leaderboard_rank(instance_id=instance.pk, player_id=player_id).place == place
        around = leaderboard_around(instance_id=instance.pk, player_id=player_id, k=2)
        assert [(s.place, s.player_id) for s in around] == [(p, pid) for p, pid, _ in expected if abs(p - place) <= 2]
    _bucket_counts_match(instance)


def _retried(write) -> None:
    """Run `write` in a transaction, again after a deadlock: what the pipeline does with a batch PostgreSQL aborted."""
    for _ in range(20):
        try:
            with transaction.atomic():
                write()
            return
        except OperationalError as exc:
            if "deadlock" not in str(exc):
                raise
    raise AssertionError("still deadlocked after 20 attempts")


@pytest.mark.django_db(transaction=True)
def test_concurrent_scores_and_board_moves_keep_counts_and_buckets_exact(tenant_a, instance):
    players = _players(tenant_a, 30)
    participants_enter(instance_id=instance.pk, label_id=tenant_a.label.pk, player_ids=players)
    barrier, errors, event_ids, added = threading.Barrier(6), [], itertools.count(1), []

    def scorer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait(timeout=30)
            for _ in range(8):
                batch = [
                    ScoreUpdate(instance.pk, p, next(event_ids), Decimal(rng.randint(1, 400)), T0)
                    for p in rng.sample(players, 12)
                ]
                _retried(lambda batch=batch: scores_apply(updates=batch, rules={instance.pk: ("sum", None)}))
                added.extend(batch)
        except Exception as exc:
            errors.append((seed, exc))
        finally:
            connection.close()

    def mover(seed: int) -> None:
        rng = random.Random(seed)
        try:
            barrier.wait(timeout=30)
            for _ in range(8):
                out, back = rng.sample(players, 5), rng.sample(players, 5)
                _retried(
                    lambda out=out, back=back: (
                        participants_exclude(instance_id=instance.pk, player_ids=out),
                        participants_restore(instance_id=instance.pk, player_ids=back),
                    )
                )
        except Exception as exc:
            errors.append((seed, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=scorer, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=mover, args=(n,)) for n in range(100, 102)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    instance.refresh_from_db()
    rows = TournamentParticipant.objects.filter(instance=instance)
    assert instance.participant_count == rows.filter(status="registered").count()
    _bucket_counts_match(instance)
    for place, player_id, _ in _expected(instance):
        assert leaderboard_rank(instance_id=instance.pk, player_id=player_id).place == place
    # Each update counted at most once (an excluded player's updates are not counted at all).
    total = sum((u.value for u in added), Decimal(0))
    assert 0 < sum(r.score for r in rows) <= total


def test_entries_of_two_labels_in_one_call_each_enter_with_their_instances_label(tenant_a, tenant_b, instance):
    (other,) = _instances(tenant_b, 1)
    (a,) = _players(tenant_a, 1)
    (b,) = _players(tenant_b, 1)
    entries = [Entry(instance.pk, tenant_a.label.pk, [a]), Entry(other.pk, tenant_b.label.pk, [b])]
    assert participants_enter_many(entries=entries, at=T0) == {instance.pk: [a], other.pk: [b]}
    rows = TournamentParticipant.objects.filter(instance__in=[instance, other]).values_list(
        "instance_id", "player_id", "label_id"
    )
    assert sorted(rows) == sorted([(instance.pk, a, tenant_a.label.pk), (other.pk, b, tenant_b.label.pk)])
