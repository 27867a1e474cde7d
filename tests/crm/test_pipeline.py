"""The pipeline: consumer groups on the immutable event log. Exactly once per group, never a skipped event (also when
transactions commit out of id order), failures per (group, event) that never stop a group, per-player order across
workers, leases a dead worker loses, and the sweeper as fallback consumer.

These tests commit (transactional database): ticks are snapshots of what other transactions committed.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import defaultdict

import pytest
from django.db import OperationalError, connection, transaction

from crm import pipeline
from crm.models import Event, PipelineCursor, PipelineFailure, PipelineStat, PlayerAggregate
from crm.models.pipeline import PARTITIONS
from crm.pipeline import Worker, leases_balance, page_apply, pipeline_drain, tick
from crm.services.events import events_retry
from crm.services.ingest import events_ingest
from crm.tasks import pipeline_sweep

pytestmark = pytest.mark.django_db(transaction=True)


def deposit(event_id: str, amount: float = 10, user: str = "shared-player") -> dict:
    return {"event_id": event_id, "type": "deposit", "ext_brand_id": "shared-brand", "user_ext_id": user,
            "occurred_at": "2026-01-10T12:00:00Z", "payload": {"deposit_amount": amount}}  # fmt: skip


def ingest(tenant, items: list[dict]) -> list[int]:
    result = events_ingest(label=tenant.label, items=items, source="api")
    assert result.counts()["accepted"] == len(items), [i.errors for i in result.items if i.errors]
    return result.new_ids


def deposits_counted() -> int:
    return sum(PlayerAggregate.objects.values_list("deposit_count", flat=True))


def _unregister(name: str) -> None:
    for regs in pipeline._GROUPS.values():
        regs[:] = [r for r in regs if r.name != name]


class Recorder:
    """A handler in the (otherwise empty) `automation` group: records each event it applied, with the thread that
    applied it, once its transaction commits; fails on deposits of 666 while `broken`."""

    def __init__(self) -> None:
        self.applied: list[tuple[int, int, str]] = []  # (event id, player id, thread)
        self.pages: list[int] = []  # the size of each page handed over
        self.broken = False
        self._lock = threading.Lock()

    def __call__(self, events) -> None:
        for event in events:
            if self.broken and event.payload.get("deposit_amount") == 666:
                raise RuntimeError(f"cannot handle event {event.id}")
        seen = [(e.id, e.player_id, threading.current_thread().name) for e in events]
        transaction.on_commit(lambda: self._add(seen))

    def _add(self, seen) -> None:
        with self._lock:
            self.applied.extend(seen)
            self.pages.append(len(seen))

    def ids(self) -> list[int]:
        return [event_id for event_id, _, _ in self.applied]


@pytest.fixture
def recorder():
    record = Recorder()
    pipeline.handler("test-recorder", group="automation")(record)
    pipeline.cursors_ensure(["automation"])  # a new group starts at the newest tick
    yield record
    _unregister("test-recorder")
    with connection.cursor() as cursor:  # the pipeline's tables are not flushed between tests
        cursor.execute("DELETE FROM pipeline_cursor WHERE group_name = 'automation'")
        cursor.execute("DELETE FROM pipeline_failure")
        cursor.execute("DELETE FROM pipeline_worker")
    pipeline.cursors_ensure(["automation"])  # the rules' group goes on from here, as its migration started it


def test_each_group_applies_a_committed_event_once_and_never_updates_the_log(tenant_a, recorder):
    ids = ingest(tenant_a, [deposit(f"d-{i}", user=f"p-{i}") for i in range(30)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM crm_event ORDER BY id")
        versions = cursor.fetchall()

    applied = pipeline_drain()

    assert applied == 30 * len(pipeline.groups())  # crm, gamification, automation: each once
    assert (deposits_counted(), sorted(recorder.ids())) == (30, ids)
    assert pipeline_drain() == 0
    assert (deposits_counted(), len(recorder.ids())) == (30, 30)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text FROM crm_event ORDER BY id")
        assert cursor.fetchall() == versions  # the same row versions: no claim column, no update
    stats = dict(PipelineStat.objects.filter(label=tenant_a.label).values_list("group_name", "applied"))
    assert stats == {"crm": 30, "gamification": 30, "automation": 30}


@pytest.mark.parametrize("read", ["one partition", "several partitions"])
def test_handlers_get_each_events_times_as_stored_aware_in_utc(tenant_a, read):
    seen = []
    pipeline.handler("test-times", group="automation")(lambda events: seen.extend(events))
    try:
        pipeline.cursors_ensure(["automation"])
        items = [
            deposit(f"t-{i}", user=f"p-{i}") | {"occurred_at": f"2026-01-10T12:00:0{i}.25{i}+02:00"} for i in range(4)
        ]
        ingest(tenant_a, items)
        if read == "one partition":
            pipeline_drain(group_names=["automation"])
        else:
            tick()
            owner = "test-times-owner"
            parts = list(range(PARTITIONS))
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE pipeline_cursor SET lease_owner = %s, lease_until = now() + interval '1 minute'"
                    " WHERE group_name = 'automation'",
                    [owner],
                )
            pipeline.pages_apply(group="automation", parts=parts, owner=owner)
    finally:
        _unregister("test-times")
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM pipeline_cursor WHERE group_name = 'automation'")
        pipeline.cursors_ensure(["automation"])
    stored = {e.pk: (e.occurred_at, e.received_at) for e in Event.objects.filter(label=tenant_a.label)}
    assert len(seen) == 4
    assert {e.id: (e.occurred_at, e.received_at) for e in seen} == stored
    assert {e.occurred_at.tzinfo for e in seen} | {e.received_at.tzinfo for e in seen} == {dt.UTC}
    assert sorted(e.occurred_at for e in seen)[0] == dt.datetime(2026, 1, 10, 10, 0, 0, 250000, tzinfo=dt.UTC)


def test_a_transaction_that_commits_after_a_later_one_is_not_skipped(tenant_a, recorder):
    holding, release, held_ids = threading.Event(), threading.Event(), []

    def slow_ingest() -> None:  # draws the lower ids, commits last
        try:
            with transaction.atomic():
                held_ids.extend(ingest(tenant_a, [deposit("slow-1", user="slow"), deposit("slow-2", user="slow")]))
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_ingest)
    thread.start()
    try:
        assert holding.wait(30)
        fast_ids = ingest(tenant_a, [deposit("fast-1", user="fast")])
        assert fast_ids[0] > max(held_ids)

        pipeline_drain()  # the later transaction is applied at once; the one still open waits, not skipped
        assert recorder.ids() == fast_ids
    finally:
        release.set()
        thread.join(30)

    pipeline_drain()

    assert recorder.ids() == [*fast_ids, *held_ids]
    assert deposits_counted() == 3
    assert pipeline_drain() == 0


def test_a_backlog_is_applied_in_pages_of_the_set_size_in_acceptance_order(tenant_a, recorder, settings):
    settings.PITBOSS_PIPELINE_PAGE = 3
    first = ingest(tenant_a, [deposit(f"d-{i}") for i in range(5)])
    second = ingest(tenant_a, [deposit(f"e-{i}") for i in range(5)])

    assert pipeline_drain(group_names=["automation"]) == 10

    assert recorder.ids() == first + second  # one player: one partition, in the order accepted
    assert recorder.pages == [3, 3, 3, 1]  # full pages keep the window open; the short one closes it
    assert pipeline_drain(group_names=["automation"]) == 0


def test_a_poison_event_fails_in_one_group_only_and_a_retry_after_the_fix_applies_it_once(tenant_a, recorder):
    recorder.broken = True
    ids = ingest(tenant_a, [deposit("d-1", 10), deposit("d-666", 666), deposit("d-2", 20)])
    poison = Event.objects.get(event_id="d-666").pk

    pipeline_drain()

    assert deposits_counted() == 3  # the crm group applied all three
    assert sorted(recorder.ids()) == [ids[0], ids[2]]  # automation went on past the poison event
    failure = PipelineFailure.objects.get()
    assert (failure.group_name, failure.event_id, failure.handler, failure.attempts, failure.resolved_at) == (
        "automation",
        poison,
        "test-recorder",
        1,
        None,
    )
    assert failure.error == f"RuntimeError: cannot handle event {poison}"
    assert failure.label_id == tenant_a.label.pk

    assert events_retry(event_ids=[poison]) == [poison]  # still broken: a second attempt, backed off
    pipeline_drain()
    failure.refresh_from_db()
    assert (failure.attempts, failure.resolved_at, failure.retry_after is not None) == (2, None, True)

    recorder.broken = False  # the fix is deployed
    assert events_retry(event_ids=[poison]) == [poison]
    pipeline_drain()
    pipeline_drain()

    failure.refresh_from_db()
    assert failure.resolved_at is not None
    assert sorted(recorder.ids()) == sorted(ids)  # the poison event once, after the fix
    assert deposits_counted() == 3  # and never again in the crm group
    assert events_retry(event_ids=[poison]) == []  # resolved: nothing to retry


def test_a_failure_retried_past_its_backoffs_is_parked_until_staff_retry_it(tenant_a, recorder):
    recorder.broken = True
    ingest(tenant_a, [deposit("d-666", 666)])
    pipeline_drain()
    failure = PipelineFailure.objects.get()
    for attempt in range(2, len(pipeline.RETRY_BACKOFF_SECONDS) + 3):
        PipelineFailure.objects.filter(pk=failure.pk, retry_after__isnull=False).update(retry_after=failure.failed_at)
        pipeline_drain()
        failure.refresh_from_db()
        assert failure.attempts == min(attempt, len(pipeline.RETRY_BACKOFF_SECONDS) + 1)
    assert failure.retry_after is None  # parked: no automatic retry any more
    recorder.broken = False
    events_retry(event_ids=[failure.event_id])
    pipeline_drain()
    failure.refresh_from_db()
    assert failure.resolved_at is not None


def test_a_page_whose_transaction_breaks_applies_nothing_and_is_read_again(tenant_a):
    calls = []

    @pipeline.handler("test-connection-lost", group="crm", order=99)  # after the aggregates
    def lose_connection_once(events) -> None:
        calls.append(len(events))
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")

    try:
        ingest(tenant_a, [deposit("d-1"), deposit("d-2")])
        with pytest.raises(OperationalError):
            pipeline_drain(group_names=["crm"])
        assert deposits_counted() == 0  # the aggregates rolled back with the position
        assert not PipelineFailure.objects.exists()  # a transient error is not the event's fault

        pipeline_drain(group_names=["crm"])
    finally:
        _unregister("test-connection-lost")
    assert deposits_counted() == 2
    assert calls == [2, 2]


def test_four_workers_apply_each_players_events_in_acceptance_order(tenant_a, recorder, settings):
    settings.PITBOSS_PIPELINE_LEASE_SECONDS = 2  # they rebalance every 0.4 s
    stop = threading.Event()
    workers = [Worker("automation") for _ in range(4)]

    def run(worker: Worker) -> None:
        try:
            while not stop.is_set():
                if worker.run_once() == 0:
                    time.sleep(0.02)
        finally:
            worker.stop()
            connection.close()

    threads = [threading.Thread(target=run, args=(w,), name=f"worker-{i}") for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    accepted: dict[int, list[int]] = defaultdict(list)
    try:
        deadline = time.monotonic() + 30
        while sorted(len(w.held) for w in workers) != [4, 4, 4, 4] and time.monotonic() < deadline:
            time.sleep(0.05)  # the first took all 16 partitions; it gives back its extras as the others announce
        assert sorted(p for w in workers for p in w.held) == list(range(pipeline.PARTITIONS))
        for batch in range(40):  # 40 requests, one after the other, each with events of several players
            items = [deposit(f"d-{batch}-{i}", user=f"p-{(batch + i) % 32}") for i in range(10)]
            for event_id in ingest(tenant_a, items):
                accepted[Event.objects.get(pk=event_id).player_id].append(event_id)
        deadline = time.monotonic() + 60
        while len(recorder.applied) < 400 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)

    seen: dict[int, list[int]] = defaultdict(list)
    for event_id, player_id, _ in recorder.applied:
        seen[player_id].append(event_id)
    assert dict(seen) == dict(accepted)  # each event once, each player's in acceptance order
    assert len({name for _, _, name in recorder.applied}) == 4  # the workers shared the partitions


def test_a_dead_workers_partitions_are_taken_over_after_its_lease(tenant_a, recorder, settings):
    settings.PITBOSS_PIPELINE_LEASE_SECONDS = 4  # long enough for the steps below on a slow machine
    dead, alive = pipeline.new_owner("dead"), pipeline.new_owner("alive")
    assert len(leases_balance(group="automation", owner=dead)) == pipeline.PARTITIONS
    assert leases_balance(group="automation", owner=alive) == []  # all held, none expired: nothing to take
    ids = ingest(tenant_a, [deposit("d-1")])
    assert pipeline_sweep() == 2  # the crm and gamification groups; automation's partitions are leased

    time.sleep(4.3)  # the dead worker neither heartbeats nor renews
    assert len(leases_balance(group="automation", owner=alive)) == pipeline.PARTITIONS
    part = pipeline.partition_of(Event.objects.get(pk=ids[0]).player_id)
    assert page_apply(group="automation", part=part, owner=dead) is None  # fenced: its lease is gone
    assert page_apply(group="automation", part=part, owner=alive).events == 1
    assert recorder.ids() == ids
    pipeline.leases_release(group="automation", owner=alive)


def test_workers_of_a_group_split_its_partitions_evenly(recorder):
    owners = [pipeline.new_owner() for _ in range(3)]
    for owner in owners:  # each announces itself first
        leases_balance(group="automation", owner=owner)
    held = [leases_balance(group="automation", owner=owner) for owner in owners]
    held = [leases_balance(group="automation", owner=owner) for owner in owners]  # the first gave back its extras
    assert sorted(p for parts in held for p in parts) == list(range(pipeline.PARTITIONS))
    assert sorted(len(parts) for parts in held) == [4, 6, 6]  # ceil(16 / 3) each, the rest to the last
    for owner in owners:
        pipeline.leases_release(group="automation", owner=owner)
    assert not PipelineCursor.objects.filter(group_name="automation", lease_owner__isnull=False).exists()


def test_the_sweeper_applies_what_no_worker_holds_and_stops_at_its_budget(tenant_a):
    ingest(tenant_a, [deposit(f"d-{i}", user=f"p-{i}") for i in range(20)])

    assert pipeline_sweep(budget_seconds=0) == 0  # no time: nothing applied, nothing lost
    assert pipeline_sweep() == 20 * len(pipeline.groups())
    assert deposits_counted() == 20
    assert pipeline_sweep() == 0


def test_a_tick_is_taken_only_when_something_may_have_committed(tenant_a, settings):
    settings.PITBOSS_PIPELINE_TICK_MS = 0
    tick(force=True)
    # Nothing happened since: no tick. (Transaction ids are the cluster's: another database's writes count as activity,
    # so on a shared server this waits for a quiet moment.)
    deadline = time.monotonic() + 10
    while tick() is not None:
        assert time.monotonic() < deadline, "ticks kept coming with nothing happening"
        time.sleep(0.05)
    ingest(tenant_a, [deposit("d-1")])
    assert tick() is not None


def test_handlers_register_once_in_a_known_group():
    with pytest.raises(ValueError, match="Unknown pipeline group 'nope'"):
        pipeline.handler("test-x", group="nope")
    with pytest.raises(ValueError, match="already registered"):
        pipeline.handler("profile", group="automation")(lambda events: None)
    assert pipeline.registered("crm") == ["profile", "aggregates", "rollups", "segments"]
    assert pipeline.groups()[:2] == ["crm", "gamification"]
