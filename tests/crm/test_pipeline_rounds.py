"""A worker's round over several partitions in one transaction (`pages_apply`): every event once, each player's in
order, failures recorded in their own partition, positions moved with the effects, a lost lease left out.

These tests commit (transactional database), as the pipeline's other tests do.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from crm import pipeline
from crm.models import Event, PipelineCursor, PipelineFailure
from crm.pipeline import leases_balance, pages_apply, tick
from tests.crm.test_pipeline import deposit, ingest, recorder  # noqa: F401 - the fixture

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_round_applies_the_busy_partitions_pages_in_one_transaction(tenant_a, recorder):  # noqa: F811
    owner = pipeline.new_owner("round")
    parts = leases_balance(group="automation", owner=owner)
    assert len(parts) == pipeline.PARTITIONS
    recorder.broken = True
    items = [deposit(f"d-{n}", amount=666 if n == 7 else n, user=f"p-{n % 12}") for n in range(40)]
    ids = ingest(tenant_a, items)
    tick(force=True)
    players = dict(Event.objects.filter(pk__in=ids).values_list("id", "player_id"))

    results = pages_apply(group="automation", parts=parts, owner=owner, limit=10_000)

    busy = {pipeline.partition_of(p) for p in players.values()}
    assert {p for p, r in results.items() if r.events} == busy
    assert sum(r.events for r in results.values()) == 40
    assert sum(r.failed for r in results.values()) == 1
    # One run of the handlers for the whole round (then, after the failure, event by event, as for one page).
    failed = PipelineFailure.objects.get(group_name="automation")
    assert (failed.event_id, failed.part) == (ids[7], pipeline.partition_of(players[ids[7]]))
    assert sorted(recorder.ids()) == sorted(i for i in ids if i != ids[7])
    by_player: dict[int, list[int]] = defaultdict(list)
    for event_id, player_id, _ in recorder.applied:
        by_player[player_id].append(event_id)
    assert all(events == sorted(events) for events in by_player.values())  # each player's in acceptance order
    assert pages_apply(group="automation", parts=parts, owner=owner) == dict.fromkeys(parts, pipeline.PageResult())
    assert len(recorder.ids()) == 39  # nothing twice
    pipeline.leases_release(group="automation", owner=owner)


def test_a_round_shares_the_page_size_and_leaves_out_a_lost_partition(tenant_a, recorder):  # noqa: F811
    owner, other = pipeline.new_owner("round"), pipeline.new_owner("other")
    parts = leases_balance(group="automation", owner=owner)
    ids = ingest(tenant_a, [deposit(f"d-{n}", user=f"p-{n % 20}") for n in range(60)])
    tick(force=True)
    lost = pipeline.partition_of(Event.objects.get(pk=ids[0]).player_id)
    PipelineCursor.objects.filter(group_name="automation", part=lost).update(lease_owner=other)

    rounds = []
    while True:
        results = pages_apply(group="automation", parts=parts, owner=owner, limit=32)  # 2 events per partition
        assert lost not in results
        rounds.append(sum(r.events for r in results.values()))
        if not any(r.full for r in results.values()):
            break
    mine = [i for i in ids if pipeline.partition_of(Event.objects.get(pk=i).player_id) != lost]
    assert sorted(recorder.ids()) == sorted(mine)
    assert len(rounds) > 1
    assert max(rounds) <= 32
    pipeline.leases_release(group="automation", owner=owner)
    pipeline.leases_release(group="automation", owner=other)
