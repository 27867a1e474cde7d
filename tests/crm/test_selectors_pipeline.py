"""The pipeline as the admin and /healthz read it (crm.selectors): which events each group applied, which it has not,
and how old the oldest of those is, checked against what the real pipeline did, inside a window it has only partly
applied and with a transaction that commits after a later one.

These tests commit (transactional database): ticks only see committed transactions.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from backoffice.scoping import actor_for_user
from crm import pipeline
from crm.models import Event
from crm.pipeline import leases_balance, leases_release, new_owner, page_apply, pipeline_drain, tick
from crm.selectors import (
    event_group_status,
    events_applied_condition,
    events_pending_ids,
    ingestion_stats,
    pipeline_health,
)
from tests.crm.test_admin_events import event, ingest

pytestmark = pytest.mark.django_db(transaction=True)


def _state(group: str, ids: list[int]) -> dict[int, str]:
    statuses = event_group_status(event_ids=ids)
    return {pk: next(s.state for s in statuses[pk] if s.group == group) for pk in ids}


def _pending(tenant, group: str) -> list[int]:
    rows = Event.objects.filter(label=tenant.label, pk__in=events_pending_ids(label_ids=[tenant.label.pk], group=group))
    return sorted(rows.values_list("pk", flat=True))


def _applied(tenant, group: str) -> list[int]:
    rows = Event.objects.filter(label=tenant.label).filter(events_applied_condition(group=group))
    return sorted(rows.values_list("pk", flat=True))


def _lags(tenant) -> dict[str, int]:
    [stat] = ingestion_stats(actor=actor_for_user(tenant.admin))
    return {lag.group: lag.pending for lag in stat.groups}


def test_a_window_the_group_applied_in_part(tenant_a):
    ids = ingest(tenant_a.label, *(event(f"d-{i}") for i in range(10)))  # one player: one partition, one txid
    part = pipeline.partition_of(Event.objects.get(pk=ids[0]).player_id)
    owner = new_owner("test")
    assert part in leases_balance(group="crm", owner=owner)
    tick(force=True)
    try:
        result = page_apply(group="crm", part=part, owner=owner, limit=4)
    finally:
        leases_release(group="crm", owner=owner)
    assert (result.events, result.full) == (4, True)  # the cursor is inside its window, after the 4th event

    assert _state("crm", ids) == {pk: "applied" if pk in ids[:4] else "pending" for pk in ids}
    assert set(_state("gamification", ids).values()) == {"pending"}
    assert _pending(tenant_a, "crm") == ids[4:]
    assert _applied(tenant_a, "crm") == ids[:4]
    assert _pending(tenant_a, "gamification") == ids
    assert _applied(tenant_a, "gamification") == []
    assert _lags(tenant_a) == {"crm": 6, "gamification": 10, "automation": 10}
    health = {g.group: g.oldest_pending_at for g in pipeline_health()[0]}
    assert health["crm"] == Event.objects.get(pk=ids[4]).received_at

    pipeline_drain()

    assert _lags(tenant_a) == {"crm": 0, "gamification": 0, "automation": 0}
    assert _applied(tenant_a, "crm") == _applied(tenant_a, "gamification") == ids
    assert {g.oldest_pending_at for g in pipeline_health()[0]} == {None}


def test_a_transaction_that_commits_after_a_tick_that_saw_it_running(tenant_a):
    holding, release, held = threading.Event(), threading.Event(), []

    def slow_ingest() -> None:
        try:
            with transaction.atomic():
                held.extend(ingest(tenant_a.label, event("slow-1", user_ext_id="slow")))
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_ingest)
    thread.start()
    try:
        assert holding.wait(30)
        fast = ingest(tenant_a.label, event("fast-1", user_ext_id="fast"))
        pipeline_drain()  # its ticks see the slow transaction running: it is in their snapshots' xip
    finally:
        release.set()
        thread.join(30)

    assert _state("crm", [*fast, *held]) == {fast[0]: "applied", held[0]: "pending"}
    assert _pending(tenant_a, "crm") == held
    assert _lags(tenant_a) == {"crm": 1, "gamification": 1, "automation": 1}
    health = {g.group: g.oldest_pending_at for g in pipeline_health()[0]}
    assert health["crm"] == Event.objects.get(pk=held[0]).received_at

    pipeline_drain()

    assert _state("crm", held) == {held[0]: "applied"}
    assert _lags(tenant_a) == {"crm": 0, "gamification": 0, "automation": 0}
