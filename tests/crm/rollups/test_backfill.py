"""A spec's backfill and the live handler never count an event twice, nor miss one: events applied by the crm group
before the spec was created are the backfill's (read from the log through the positions stored on the spec), every
other one is the live handler's, also while a page is in flight when the spec is created, while the backfill runs,
and for an event whose failure is retried later.

These tests commit (transactional database): positions and ticks are what other transactions committed.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from crm import pipeline
from crm.models import PipelineFailure, RollupStatus
from crm.pipeline import failures_schedule, pipeline_drain
from crm.services import rollups as service
from crm.services.rollups import rollup_backfill_page, rollup_backfill_run, rollup_spec_ensure
from tests.crm.rollups.helpers import deposit, ingest, rollups

pytestmark = pytest.mark.django_db(transaction=True)

COUNT = {"event_type": "deposit", "measure": "count", "window": {"last_days": 30}}
SUM = {"event_type": "deposit", "measure": "sum", "field": "deposit_amount", "window": {"last_days": 30}}


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The backfills queued (after commit) instead of sent to the broker: the tests run them in this process."""
    specs: list[int] = []
    monkeypatch.setattr(service, "_queue_backfill", specs.append)
    return specs


def _unregister(name: str) -> None:
    for regs in pipeline._GROUPS.values():
        regs[:] = [r for r in regs if r.name != name]


@pytest.fixture
def cleanup():
    yield
    with connection.cursor() as cursor:  # the pipeline's tables are not flushed between tests
        cursor.execute("DELETE FROM pipeline_failure")
        cursor.execute("DELETE FROM pipeline_worker")


def total(spec) -> tuple[int, Decimal]:
    rows = rollups(spec).values()
    return sum(r[0] for r in rows), sum((Decimal(r[1]) for r in rows), Decimal(0))


def test_events_before_during_and_after_creation_and_backfill_count_once(tenant_a, queued, cleanup):
    applied_before = ingest(tenant_a, [deposit(f"a{i}", 1, user=f"p{i % 3}") for i in range(6)])
    pipeline_drain()  # applied by the crm group before the spec exists: the backfill's
    pending = ingest(tenant_a, [deposit(f"b{i}", 10, user=f"p{i % 3}") for i in range(4)])  # not applied yet

    spec = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=SUM)

    assert queued == [spec.pk]  # queued once the spec committed
    after = ingest(tenant_a, [deposit(f"c{i}", 100, user=f"p{i % 3}") for i in range(2)])
    pipeline_drain()  # pending and after: the live handler's
    assert total(spec) == (6, Decimal("240.0"))
    assert rollup_backfill_page(spec_id=spec.pk, limit=4) is False  # part of the backfill...
    during = ingest(tenant_a, [deposit(f"d{i}", 1000, user="p0") for i in range(3)])
    pipeline_drain()  # ...events meanwhile: live
    assert rollup_backfill_run(spec_id=spec.pk) is True

    spec.refresh_from_db()
    assert total(spec) == (len(applied_before) + len(pending) + len(after) + len(during), Decimal("3246.0"))
    assert (spec.status, spec.backfill_events, spec.backfill_done) == (RollupStatus.READY, 6, spec.backfill_days)
    assert rollup_backfill_run(spec_id=spec.pk) is True  # again (a task delivered twice): nothing more
    assert total(spec) == (15, Decimal("3246.0"))


def test_a_page_in_flight_when_the_spec_is_created_is_the_backfills(tenant_a, queued, cleanup):
    in_handler, release = threading.Event(), threading.Event()
    done: list[str] = []

    def blocker(events) -> None:  # runs after the roll-ups handler, in the page's transaction
        if any(e.payload.get("deposit_amount") == 7 for e in events):
            in_handler.set()
            assert release.wait(30)
            transaction.on_commit(lambda: done.append("page"))

    pipeline.handler("test-blocker", group="crm", order=99)(blocker)
    try:
        ingest(tenant_a, [deposit("slow", 7), deposit("other", 1)])  # one player: one partition, one page

        def drain() -> None:
            try:
                pipeline_drain(group_names=["crm"])
            finally:
                connection.close()

        def create() -> None:
            try:
                rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=COUNT)
                done.append("spec")
            except Exception as exc:
                done.append(repr(exc))
                raise
            finally:
                connection.close()

        page = threading.Thread(target=drain)
        page.start()
        assert in_handler.wait(30)  # the page has run the roll-ups handler: no spec yet
        creator = threading.Thread(target=create)
        creator.start()
        creator.join(1.0)
        assert creator.is_alive()  # waits for the page's lock on its partition
        release.set()
        page.join(30)
        creator.join(30)
    finally:
        _unregister("test-blocker")
        release.set()

    assert done == ["page", "spec"]
    [spec_id] = queued
    from crm.models import RollupSpec

    spec = RollupSpec.objects.get(pk=spec_id)
    assert total(spec) == (0, Decimal("0"))  # the page committed before the spec: nothing live
    rollup_backfill_run(spec_id=spec.pk)
    assert total(spec) == (2, Decimal("0"))  # the backfill counted the page's events, once
    pipeline_drain()
    assert total(spec) == (2, Decimal("0"))


def test_an_event_failed_at_creation_is_counted_once_when_its_retry_applies_it(tenant_a, queued, cleanup):
    broken = {"on": True}

    def breaker(events) -> None:
        for event in events:
            if broken["on"] and event.payload.get("deposit_amount") == 666:
                raise RuntimeError("cannot handle it")

    pipeline.handler("test-breaker", group="crm", order=99)(breaker)
    try:
        ingest(tenant_a, [deposit("bad", 666), deposit("good", 1)])
        pipeline_drain(group_names=["crm"])
        assert PipelineFailure.objects.filter(group_name="crm", resolved_at__isnull=True).count() == 1

        spec = rollup_spec_ensure(label_id=tenant_a.label.pk, behaviour=SUM)
        rollup_backfill_run(spec_id=spec.pk)
        assert total(spec) == (1, Decimal("1.0"))  # the failed event is left to its retry

        broken["on"] = False
        failures_schedule(list(PipelineFailure.objects.filter(group_name="crm").values_list("id", flat=True)))
        pipeline_drain(group_names=["crm"])
    finally:
        _unregister("test-breaker")

    assert PipelineFailure.objects.filter(group_name="crm", resolved_at__isnull=True).count() == 0
    assert total(spec) == (2, Decimal("667.0"))
    pipeline_drain(group_names=["crm"])
    assert total(spec) == (2, Decimal("667.0"))
