"""Finalization awards prizes exactly once: run twice, run concurrently, and a real Celery worker SIGKILLed in the
middle of it (held there by a row lock the test takes), then the beat's task run again."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter

import psycopg
import pytest
from django.db import connection

from backoffice.celery import app as celery_app
from bench.procs import CeleryWorker, database_url, wait_until
from crm.models import Event, Player
from gamification.models import TournamentInstance, TournamentParticipant, WalletEntry
from gamification.selectors import wallet_get
from gamification.services.tournament_finalize import tournament_finalize
from gamification.services.wallet import wallet_adjust
from tests.gamification.tournament_helpers import instance_make, players_make, scores_set, tournament_make

PRIZES = [(1, 1, 100), (2, 2, 50), (3, 3, 20)]


def _ended_instance(tenant, players: int = 6):
    """An instance that ended with `players` registered, scores 10, 20, 30... (the last player is first)."""
    instance = instance_make(tournament_make(tenant.label, prizes=PRIZES), status="started")
    people = players_make(tenant, players)
    scores_set(instance, people, step=10)
    TournamentInstance.objects.filter(pk=instance.pk).update(status="finalizing")
    return instance, people[::-1]  # in final order


def _assert_paid_once(instance, ranked, funded: dict | None = None) -> None:
    funded = funded or {}
    prizes = WalletEntry.objects.filter(key__startswith=f"tournament:{instance.pk}:", key__contains=":prize:")
    assert Counter(prizes.values_list("player_id", flat=True)) == {p.pk: 1 for p in ranked[:3]}
    assert [wallet_get(player=p).points - funded.get(p.pk, 0) for p in ranked[:4]] == [100, 50, 20, 0]
    results = Counter(
        Event.objects.filter(
            payload__instance_id=instance.pk, type__in=["tournament_won", "tournament_lost"]
        ).values_list("type", flat=True)
    )
    assert results == {"tournament_won": 3, "tournament_lost": len(ranked) - 3}
    instance.refresh_from_db()
    assert instance.status == "finished"


@pytest.mark.django_db
def test_finalizing_twice_awards_once(tenant_a):
    instance, ranked = _ended_instance(tenant_a)
    assert tournament_finalize(instance_id=instance.pk) == "finished"
    assert tournament_finalize(instance_id=instance.pk) == "finished"
    assert dict(TournamentParticipant.objects.values_list("player_id", "place"))[ranked[0].pk] == 1
    _assert_paid_once(instance, ranked)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_finalizations_award_once(tenant_a):
    instance, ranked = _ended_instance(tenant_a)
    barrier, outcomes = threading.Barrier(2), []

    def finalize() -> None:
        try:
            barrier.wait(timeout=30)
            outcomes.append(tournament_finalize(instance_id=instance.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=finalize) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["finished", "finished"]
    _assert_paid_once(instance, ranked)


# --- a real worker, killed -------------------------------------------------------------------------------------------
@pytest.fixture
def worker_env(django_db_setup):
    """A worker environment on the configured broker, on a queue of this test's own (other runs share the broker)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "backoffice.settings.test"}
    env |= {"DATABASE_URL": database_url(connection.settings_dict), "PYTHONUNBUFFERED": "1"}
    return env, f"tournaments-{uuid.uuid4().hex[:12]}"


def _tick(queue: str) -> None:
    celery_app.send_task("gamification.tournaments_tick", queue=queue)


def _blocked_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            " AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_during_finalization_leaves_nothing_and_the_next_beat_awards_once(
    tenant_a, worker_env, tmp_path
):
    env, queue = worker_env
    instance, ranked = _ended_instance(tenant_a, players=40)
    second = ranked[1]
    wallet_adjust(player=second, currency="points", amount=7, source="api", key="fund-second")
    # The test holds the second winner's wallet row: the worker pays the first prize, then waits there.
    locker = psycopg.connect(database_url(connection.settings_dict), autocommit=False)
    locker.execute("SELECT 1 FROM gamification_wallet WHERE player_id = %s FOR UPDATE", [second.pk])
    worker = CeleryWorker(env, tmp_path / "worker.log", queues=queue, concurrency=1)
    try:
        worker.start()
        _tick(queue)
        wait_until(lambda: _blocked_backends() >= 1, timeout=60, what="the worker inside finalization")
        worker.kill()  # SIGKILL mid-transaction: the first prize was written, not committed
        locker.rollback()
        instance.refresh_from_db()
        assert instance.status == "finalizing"
        assert not WalletEntry.objects.filter(key__contains=":prize:").exists()
        assert not Event.objects.filter(type__in=["tournament_won", "tournament_lost"]).exists()

        worker.start()  # the supervisor restarts it; the beat sends the task again every few seconds
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and TournamentInstance.objects.get(pk=instance.pk).status != "finished":
            _tick(queue)
            time.sleep(1.0)
        assert TournamentInstance.objects.get(pk=instance.pk).status == "finished", worker.output()
        _tick(queue)  # one more beat after it finished changes nothing
        time.sleep(2.0)
    finally:
        locker.close()
        worker.stop()
    _assert_paid_once(instance, ranked, funded={second.pk: 7})


@pytest.mark.django_db
def test_a_large_finalization_places_everyone_and_emits_one_result_each(tenant_a):
    instance = instance_make(tournament_make(tenant_a.label, prizes=PRIZES), status="started")
    people = Player.objects.bulk_create(
        Player(label=tenant_a.label, brand=tenant_a.brand, user_ext_id=f"bulk-{n}") for n in range(2500)
    )
    scores_set(instance, people)
    TournamentInstance.objects.filter(pk=instance.pk).update(status="finalizing")
    assert tournament_finalize(instance_id=instance.pk) == "finished"
    assert TournamentParticipant.objects.filter(instance=instance, place__isnull=False).count() == 2500
    _assert_paid_once(instance, people[::-1])
